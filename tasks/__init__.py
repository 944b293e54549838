"""Task sets: (disease, relevant drug, similar hard-negative drug), split without leakage."""
