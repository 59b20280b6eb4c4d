"""Evaluation: test metrics, the quality gate verdict and champion scoring (the one place stages and retrain ask)."""
