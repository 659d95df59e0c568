"""The comp a swap comes back as, described once as data and then built either as live Nuke nodes
(`build`) or written as a ``.nk`` script (`nkscript.write`).

Read of the pass EXRs -> Shuffles for ``swap``, ``matte`` and ``facemask`` -> Merge (over) of the swap onto
the plate's Read, laid out in a column beside the plate so the compositor can grade the face before it
goes over. Standard library only: this runs in Nuke's Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GRID_X, GRID_Y = 110, 60


@dataclass
class NodeSpec:
    """One node: its class, a unique name, knob values, inputs by node name, and position offsets."""

    cls: str
    name: str
    knobs: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    dx: int = 0
    dy: int = 0


def nuke_pattern(path: str) -> str:
    """A frame-sequence path in Nuke's form: ``####``, ``%04d``, ``$F4`` and ``@@@@`` become ``%04d``."""
    p = re.sub(r"\$F(\d)", lambda m: f"%0{m.group(1)}d", path)
    p = re.sub(r"#+", lambda m: f"%0{len(m.group(0))}d", p)
    return re.sub(r"@+", lambda m: f"%0{len(m.group(0))}d", p)


def engine_colourspace(read_colourspace: object) -> str | None:
    """The colour space a Read node's ``colorspace`` knob names, as the engine takes it: Nuke's
    ``default (linear)`` is ``linear``; None when the knob is empty or unknown."""
    text = str(read_colourspace or "").strip()
    m = re.fullmatch(r"default \((.+)\)", text)
    return (m.group(1) if m else text) or None


def comp_spec(
    passes: str,
    first: int,
    last: int,
    plate_node: str,
    prefix: str = "facegraft",
    colourspace: str | None = None,
) -> list[NodeSpec]:
    """The nodes of the comp for pass files `passes` (a sequence pattern) over the node `plate_node`.

    The passes are in the plate's own colour space. Given the plate Read's `colourspace`, the passes' Read
    takes the same one, so Nuke brings plate and passes into its working space alike and the Merge happens
    there (right for linear EXR, ACEScg, sRGB PNG, log DPX and video plates); without it they are read as
    they are (raw), which is right only when the plate is in Nuke's working space."""
    read = f"{prefix}_passes"
    colour = {"colorspace": colourspace, "raw": False} if colourspace else {"raw": True}
    return [
        NodeSpec(
            "Read",
            read,
            {
                "file": nuke_pattern(passes),
                "first": first,
                "last": last,
                "origfirst": first,
                "origlast": last,
                **colour,
                "on_error": "black",
                "label": "facegraft passes (synthetic)",
            },
            [],
            dx=2,
        ),
        NodeSpec(
            "Shuffle", f"{prefix}_swap", {"in": "swap", "label": "swap (premultiplied)"}, [read], dx=2, dy=2
        ),
        NodeSpec("Shuffle", f"{prefix}_matte", {"in": "matte", "label": "matte"}, [read], dx=3, dy=2),
        NodeSpec(
            "Shuffle", f"{prefix}_facemask", {"in": "facemask", "label": "raw face mask"}, [read], dx=4, dy=2
        ),
        NodeSpec(
            "Merge2",
            f"{prefix}_comp",
            {"operation": "over", "label": "swap over plate"},
            [plate_node, f"{prefix}_swap"],  # input 0 is B (the plate), input 1 is A (the swap)
            dx=0,
            dy=4,
        ),
    ]


def build(nuke, spec: list[NodeSpec], near) -> dict:
    """Create the nodes of `spec` with the Nuke API beside the node `near`; returns them by name."""
    made = {near.name(): near}
    x0, y0 = int(near.xpos()), int(near.ypos())
    for s in spec:
        node = getattr(nuke.nodes, s.cls)()
        node.setName(s.name, uncollide=True)
        for knob, value in s.knobs.items():
            if knob in node.knobs():
                node[knob].setValue(value)
        for i, source in enumerate(s.inputs):
            node.setInput(i, made[source])
        node.setXYpos(x0 + s.dx * GRID_X, y0 + s.dy * GRID_Y)
        made[s.name] = node
    return made
