"""The model store every stage shares: crash-safe checkpoints (`checkpoint`), the face-swap network
registry (`networks`), a trained swap model loaded for inference (`swap_model`) and the loss plot written
beside a checkpoint (`loss_plot`). Training writes these, merge and the mask tools read them; nothing here
imports a stage."""
