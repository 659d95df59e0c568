"""Provenance: what every output says about itself. Likeness releases recorded per shot, copied into the
outputs' metadata beside `facegraft/synthetic=true`, and `facegraft verify` to read it all back."""
