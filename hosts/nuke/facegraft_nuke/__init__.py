"""facegraft for Nuke: a panel that sends the selected Read to the engine service and builds the comp
of the passes it gets back. Standard library and the facegraft client only: never torch or the engine."""
