"""What a round is measured by: held-out pass@k, and the diversity of what a model says."""
