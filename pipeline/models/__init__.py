"""Models: where weights come from, the LightningModule and the DataModule."""
