"""The config: the typed schema of params.yaml, reading a stage's sections, composing conf/ with Hydra."""
