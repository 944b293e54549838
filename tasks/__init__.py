"""Task sets: (disease, relevant drug, hard-negative similar drug), split and checked for leakage."""
