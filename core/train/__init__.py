"""The train stage: DF/LIAE autoencoders, their data pipeline, losses and crash-safe checkpoints."""
