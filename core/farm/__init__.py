"""Farm integration: job descriptions that run facegraft commands over chunks of frames."""
