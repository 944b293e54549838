"""Knowledge-graph embeddings of DRKG with torch-geometric (ComplEx, DistMult, RotatE, TransE)."""
