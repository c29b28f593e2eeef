"""Hyperparameter search with KerasTuner: the search space (`hypermodel`), the search, its config."""
