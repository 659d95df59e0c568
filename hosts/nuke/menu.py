"""facegraft for Nuke, menu.py: GUI sessions only. A "facegraft" menu that opens the panel on the
selected Read; the engine service is found, or started, when the panel opens."""

import nuke

import facegraft_nuke.panel

_menu = nuke.menu("Nuke").addMenu("facegraft")
_menu.addCommand("Swap panel...", facegraft_nuke.panel.show)
