"""GPU facts: detection (NVML + torch) and the decisions that depend on them."""
