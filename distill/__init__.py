"""Knowledge distillation: teacher trajectories train a LoRA LLaMA student."""
