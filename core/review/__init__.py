"""The review page: look through a shot's faces in a browser and fix alignments and masks by hand, served by
the engine service (`facegraft review SHOTDIR`)."""
