"""The comp of `comp.comp_spec` written as Nuke script text (a ``.nk`` file or a paste buffer).

Nuke builds a script on a stack: each node pops its inputs, input 0 being the last one pushed, then
pushes itself; ``set N [stack 0]`` names the top so a later ``push $N`` can reuse it. Standard library only.
"""

from __future__ import annotations

import re

from facegraft_nuke.comp import GRID_X, GRID_Y, NodeSpec

_PLAIN = re.compile(r"^[A-Za-z0-9_./%#:+-]+$")


def knob_text(value) -> str:
    """A knob value as Nuke writes it: bare words, ``true``/``false``, or a quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("[", "\\[").replace("$", "\\$")
    return f'"{escaped}"'


def _node(cls: str, name: str, knobs: dict, inputs: int, x: int, y: int) -> list[str]:
    lines = [f"{cls} {{", f" inputs {inputs}"]
    lines += [f" {k} {knob_text(v)}" for k, v in knobs.items()]
    lines += [f" name {knob_text(name)}", f" xpos {x}", f" ypos {y}", "}"]
    return lines


def script(plate: dict, spec: list[NodeSpec], version: str = "13.0 v1") -> str:
    """Nuke script text: the plate's Read (`plate`: name, file, first, last and other knobs) and `spec`."""
    var = {}
    lines = [f"version {version}"]
    knobs = {k: v for k, v in plate.items() if k != "name"}
    lines += _node("Read", plate["name"], knobs, 0, 0, 0)
    var[plate["name"]] = "N0"
    lines.append("set N0 [stack 0]")
    for n, s in enumerate(spec, start=1):
        for source in reversed(s.inputs):  # the last pushed becomes input 0
            lines.append(f"push ${var[source]}")
        lines += _node(s.cls, s.name, s.knobs, len(s.inputs), s.dx * GRID_X, s.dy * GRID_Y)
        var[s.name] = f"N{n}"
        lines.append(f"set N{n} [stack 0]")
    return "\n".join(lines) + "\n"
