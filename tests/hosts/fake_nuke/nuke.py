"""A small stand-in for Nuke's `nuke` module (no Nuke licence here): nodes with the knobs the adapter
touches, knobs, menus, and a main-thread queue that the test drains as Nuke's event loop would.

It records what the adapter did (`created`, `messages`, `menus`) and refuses knobs a real node lacks."""

from __future__ import annotations

import queue
import sys

KNOBS = {
    "Read": ("file", "first", "last", "origfirst", "origlast", "raw", "on_error", "label", "colorspace"),
    "Shuffle": ("in", "in2", "out", "red", "green", "blue", "alpha", "label"),
    "Merge2": ("operation", "mix", "bbox", "label"),
}
created: list = []
messages: list[str] = []
menus: dict = {}
plugin_paths: list[str] = []
_main_thread: queue.Queue = queue.Queue()
_selected = None


class Knob:
    def __init__(self, name: str, label: str = "", value=None) -> None:
        self._name, self.label, self._value = name, label, value

    def name(self) -> str:
        return self._name

    def value(self):
        return self._value

    def setValue(self, value) -> None:
        self._value = value


class File_Knob(Knob):
    def __init__(self, name: str, label: str = "") -> None:
        super().__init__(name, label, "")


class String_Knob(File_Knob):
    pass


class Text_Knob(Knob):
    def __init__(self, name: str, label: str = "", text: str = "") -> None:
        super().__init__(name, label, text)


class Double_Knob(Knob):
    def __init__(self, name: str, label: str = "") -> None:
        super().__init__(name, label, 0.0)

    def setValue(self, value) -> None:
        self._value = float(value)


class Enumeration_Knob(Knob):
    def __init__(self, name: str, label: str, values) -> None:
        super().__init__(name, label, list(values)[0] if values else "")
        self.values = list(values)

    def setValue(self, value) -> None:
        if value not in self.values:
            raise ValueError(f"{value!r} is not one of {self.values}")
        self._value = value

    def setValues(self, values) -> None:
        """Nuke's Enumeration_Knob.setValues: new entries; the value stays when it is still one of them."""
        self.values = [str(v) for v in values]
        if self._value not in self.values:
            self._value = self.values[0] if self.values else ""


class PyScript_Knob(Knob):
    pass


class Node:
    def __init__(self, cls: str) -> None:
        self._class = cls
        self._knobs = {k: Knob(k) for k in KNOBS[cls]}
        self._inputs: dict[int, Node] = {}
        self._name = f"{cls}{sum(n.Class() == cls for n in created) + 1}"
        self._x = self._y = 0
        created.append(self)

    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return self._name

    def setName(self, name: str, uncollide: bool = False) -> None:
        taken = {n.name() for n in created if n is not self}
        if name in taken and not uncollide:
            raise ValueError(f"a node is already called {name}")
        base, k = name, 1
        while name in taken:
            k += 1
            name = f"{base}{k}"
        self._name = name

    def knobs(self) -> dict:
        return dict(self._knobs)

    def __getitem__(self, knob: str) -> Knob:
        return self._knobs[knob]

    def setInput(self, i: int, node) -> None:
        self._inputs[i] = node

    def input(self, i: int):
        return self._inputs.get(i)

    def xpos(self) -> int:
        return self._x

    def ypos(self) -> int:
        return self._y

    def setXYpos(self, x: int, y: int) -> None:
        self._x, self._y = int(x), int(y)


class _Nodes:
    def __getattr__(self, cls: str):
        if cls not in KNOBS:
            raise AttributeError(f"this fake has no node class {cls}")
        return lambda **knobs: _make(cls, knobs)


def _make(cls: str, knobs: dict) -> Node:
    node = Node(cls)
    for k, v in knobs.items():
        node[k].setValue(v)
    return node


nodes = _Nodes()


class Menu:
    def __init__(self, name: str) -> None:
        self.name, self.items = name, {}

    def addMenu(self, name: str):
        return self.items.setdefault(name, Menu(name))

    def addCommand(self, name: str, command, *args, **kwargs) -> None:
        self.items[name] = command


def menu(name: str) -> Menu:
    return menus.setdefault(name, Menu(name))


def pluginAddPath(path: str) -> None:
    plugin_paths.append(path)
    if path not in sys.path:
        sys.path.insert(0, path)


def select(node) -> None:
    global _selected
    _selected = node


def selectedNode():
    if _selected is None:
        raise ValueError("no node selected")
    return _selected


def toNode(name: str):
    return next((n for n in created if n.name() == name), None)


def allNodes(cls: str | None = None) -> list:
    return [n for n in created if cls is None or n.Class() == cls]


def message(text: str) -> None:
    messages.append(text)


def executeInMainThread(fn, args=(), kwargs=None) -> None:
    _main_thread.put((fn, tuple(args), kwargs or {}))


def process_main_thread() -> int:
    """Run what background threads handed to the main thread (the test is Nuke's event loop)."""
    n = 0
    while True:
        try:
            fn, args, kwargs = _main_thread.get_nowait()
        except queue.Empty:
            return n
        fn(*args, **kwargs)
        n += 1


def reset() -> None:
    global _selected
    created.clear()
    messages.clear()
    menus.clear()
    _selected = None
