"""Data: load a source, clean it, split it, tokenize it."""
