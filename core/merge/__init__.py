"""The merge stage: colour transfer, mask shaping, blending and the pass writers."""
