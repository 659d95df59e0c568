"""Stand-in for `nukescripts`: PythonPanel keeps its knobs in order and routes knobChanged like Nuke."""

from __future__ import annotations


class PythonPanel:
    def __init__(self, title: str = "", id: str = "", scrollable: bool = True) -> None:
        self.title, self.id = title, id
        self._knobs: dict = {}
        self.shown = False

    def addKnob(self, knob) -> None:
        if knob.name() in self._knobs:
            raise ValueError(f"knob {knob.name()} added twice")
        self._knobs[knob.name()] = knob

    def knobs(self) -> dict:
        return dict(self._knobs)

    def show(self) -> None:
        self.shown = True

    def press(self, name: str) -> None:
        """What clicking a button does in Nuke: knobChanged with that knob."""
        self.knobChanged(self._knobs[name])

    def edit(self, name: str, value) -> None:
        """What a user's edit of a knob does in Nuke: the value changes, then knobChanged with that knob."""
        self._knobs[name].setValue(value)
        self.knobChanged(self._knobs[name])

    def knobChanged(self, knob) -> None:
        pass
