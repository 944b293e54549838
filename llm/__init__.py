"""Chat-model backends (OpenAI-compatible, local HF/GGUF LLaMA), tool-call and JSON parsing."""
