"""What trains: selection policies and selection over a round, exact and near dedup, decontamination, mixing."""
