"""Training: the fit with its refine rounds, OOM back-off, resume, curves, strategies, the Lightning
modules and MLM pretraining."""
