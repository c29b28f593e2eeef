"""Evaluation (multi-view, frames sweep), prediction on video files, metrics, plots, attention pictures."""
