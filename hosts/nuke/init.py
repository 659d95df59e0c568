"""facegraft for Nuke, init.py: runs in every Nuke session, farm renders included, so it only puts the
adapter and the facegraft client on the plugin path (no UI, no network)."""

import os

import nuke

_HERE = os.path.dirname(os.path.abspath(__file__))
nuke.pluginAddPath(_HERE)
nuke.pluginAddPath(os.environ.get("FACEGRAFT_CLIENT_PATH") or os.path.join(os.path.dirname(_HERE), "client"))
