"""GPU-aware, reproducible fine-tuning pipeline: DVC stages over Hydra config, tracked in MLflow."""
