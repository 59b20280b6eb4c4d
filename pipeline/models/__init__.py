"""Models: where weights come from (hub, local, packaged, scratch), safe loading, architectures,
fine-tuning modes, the LSTM baseline."""
