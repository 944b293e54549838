"""Evaluation: drug-selection F1, rationale ROUGE, ablations, baselines and benchmarks."""
