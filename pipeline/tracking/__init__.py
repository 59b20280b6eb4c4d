"""Tracking: the MLflow store (URI, reachability, tags), the fallback logger and the model registry."""
