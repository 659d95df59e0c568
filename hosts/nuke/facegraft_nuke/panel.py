"""The facegraft panel in Nuke: the selected Read's plate and frame range, a model, the merge options, the
person to swap (chosen from the shot's persons, as the engine service lists them), and
Extract / Train / Swap / Cancel. Work runs in the engine service; a thread follows the job and hands every
update to Nuke's main thread. A finished swap comes back as a Read of the passes and a small comp beside
the plate; a failed job shows its one-line error in the panel and a message box, never a traceback.
"""

from __future__ import annotations

import os
import threading

import nuke
import nukescripts

from facegraft_client import Client, ServiceError
from facegraft_nuke.comp import build, comp_spec, engine_colourspace

MERGE_OPTIONS = ("colour", "mask", "occlusion_mask", "erode", "feather")  # convert options the panel shows
ALL_PERSONS = "all faces"  # the person choice that sends no person option: every face is swapped


def person_choice(person: dict) -> str:
    """How a person reads in the chooser: its label (name, or person<id>) and how many faces it has."""
    return f"{person['label']} ({person['faces']} faces)"


def plate_of(read) -> tuple[str, int, int]:
    """(file pattern, first, last) of a Read node."""
    return read["file"].value(), int(read["first"].value()), int(read["last"].value())


def engine_pattern(path: str) -> str:
    """Nuke's %04d in a plate path as the engine's ####."""
    import re

    return re.sub(r"%0(\d)d", lambda m: "#" * int(m.group(1)), path)


class FacegraftPanel(nukescripts.PythonPanel):
    """Knobs built from the service's own option declarations where it offers them."""

    def __init__(self, read=None, client: Client | None = None) -> None:
        nukescripts.PythonPanel.__init__(self, "facegraft", "com.facegraft.panel")
        self.read = read
        self._client = client
        self.job_id: str | None = None
        self._cancel = threading.Event()
        self.thread: threading.Thread | None = None
        self.created: dict = {}
        plate, first, last = plate_of(read) if read is not None else ("", 1, 1)
        folder = os.path.join(os.path.dirname(plate) or ".", "facegraft")
        self.plate = nuke.File_Knob("plate", "plate")
        self.plate.setValue(plate)
        self.frames = nuke.String_Knob("frames", "frames")
        self.frames.setValue(f"{first}-{last}")
        self.shot = nuke.File_Knob("shot", "shot folder")
        self.shot.setValue(os.path.join(folder, "shot"))
        self.source = nuke.File_Knob("source", "source faces")
        self.model = nuke.File_Knob("model", "model")
        self.output = nuke.File_Knob("output", "passes folder")
        self.output.setValue(os.path.join(folder, "passes"))
        choices, defaults = self._declared()
        self.colour = nuke.Enumeration_Knob("colour", "colour transfer", choices.get("colour", []))
        self.mask = nuke.Enumeration_Knob("mask", "mask", choices.get("mask", []))
        self.occlusion_mask = nuke.String_Knob("occlusion_mask", "occlusion mask")
        self.erode = nuke.Double_Knob("erode", "erode")
        self.feather = nuke.Double_Knob("feather", "feather")
        self.merge_knobs = (self.colour, self.mask, self.occlusion_mask, self.erode, self.feather)
        # Who to swap: the shot's persons as the service lists them (filled when the shot is set or
        # extracted, and by the refresh button); "all faces" sends no person option.
        self.person = nuke.Enumeration_Knob("person", "person", [ALL_PERSONS])
        self.persons_button = nuke.PyScript_Knob("persons", "Refresh persons")
        self.people: dict[str, dict] = {}  # chooser entry -> the person as the service lists it
        for knob in self.merge_knobs:
            if defaults.get(knob.name()) is not None:
                knob.setValue(defaults[knob.name()])
        self.extract_button = nuke.PyScript_Knob("extract", "Extract")
        self.train_button = nuke.PyScript_Knob("train", "Train")
        self.swap_button = nuke.PyScript_Knob("swap", "Swap")
        self.cancel_button = nuke.PyScript_Knob("cancel", "Cancel")
        self.status = nuke.Text_Knob("status", "status", "idle")
        for knob in (
            self.plate, self.frames, self.shot, self.source, self.model, self.output, *self.merge_knobs,
            self.person, self.persons_button,
            self.extract_button, self.train_button, self.swap_button, self.cancel_button, self.status,
        ):  # fmt: skip
            self.addKnob(knob)
        self.fill_persons(quiet=True)

    # -- the service --------------------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client()  # finds the service, or starts it
        return self._client

    def _declared(self) -> tuple[dict, dict]:
        """(choices, defaults) of the convert options, as the service declares them (the CLI's own: the
        panel keeps no list of its own, so every mode convert takes, the occlusion ones included, shows)."""
        choices, defaults = {}, {}
        try:
            for opt in self.client.options("convert"):
                if opt["name"] in MERGE_OPTIONS and opt.get("choices"):
                    choices[opt["name"]] = list(opt["choices"])
                defaults[opt["name"]] = opt.get("default")
        except ServiceError:
            pass  # the panel still opens; the first job will say what is wrong
        return choices, defaults

    def fill_persons(self, quiet: bool = False) -> list[dict]:
        """Fill the person chooser with the shot's persons (the service's /v1/persons); the choice made
        stays when that person is still there. Only "all faces" while the shot is not extracted or its
        faces were never grouped into persons."""
        shot = self.shot.value()
        people: list[dict] = []
        if shot and os.path.isfile(os.path.join(shot, "alignments.db")):
            try:
                people = self.client.persons(shot)
            except ServiceError as exc:
                if not quiet:
                    self.say(f"persons: {exc}")
        chosen = self.chosen_person()
        self.people = {person_choice(p): p for p in people}
        self.person.setValues([ALL_PERSONS, *self.people])
        keep = next((k for k, p in self.people.items() if chosen and p["id"] == chosen["id"]), ALL_PERSONS)
        self.person.setValue(keep)
        if not quiet:
            self.say(f"{len(people)} persons in the shot" if people else "no persons: every face is swapped")
        return people

    def chosen_person(self) -> dict | None:
        """The person the chooser shows (None: all faces)."""
        return self.people.get(self.person.value())

    # -- buttons ------------------------------------------------------------------------------------------
    def knobChanged(self, knob) -> None:
        name = knob.name()
        if name == "cancel":
            self.cancel()
        elif name in ("shot", "persons"):
            self.fill_persons()
        elif name in ("extract", "train", "swap"):
            self.run(name)

    def jobs_for(self, action: str) -> list[tuple[str, dict]]:
        """The service jobs an action needs, in order."""
        plate = engine_pattern(self.plate.value())
        shot = self.shot.value()
        # The plate's colour space as its Read says: the engine reads the plate and writes the passes in it.
        colour = {"colourspace": cs} if (cs := self.plate_colourspace()) else {}
        if action == "extract":
            return [("extract", {"plate": plate, "shot": shot, "frames": self.frames.value(), **colour})]
        if action == "train":
            return [("train", {"src": self.source.value(), "dst": shot, "model": self.model.value()})]
        jobs = []
        if not os.path.isfile(os.path.join(shot, "alignments.db")):
            jobs.append(("extract", {"plate": plate, "shot": shot, "frames": self.frames.value(), **colour}))
        # An option left empty (the service was not reached when the panel opened) is the engine's default.
        merge = {k.name(): k.value() for k in self.merge_knobs if k.value() not in ("", None)}
        person = self.chosen_person()
        if person is not None:  # by id: unambiguous, and the service checks the shot holds it
            merge["person"] = str(person["id"])
        args = {"plate": plate, "shot": shot, "model": self.model.value(), "out_dir": self.output.value()}
        jobs.append(("convert", {**args, "frames": self.frames.value(), **colour, **merge}))
        return jobs

    def plate_colourspace(self) -> str | None:
        """The colour space the plate's Read node is set to (None: not set, or no Read)."""
        if self.read is None or "colorspace" not in self.read.knobs():
            return None
        return engine_colourspace(self.read["colorspace"].value())

    def run(self, action: str) -> None:
        if self.thread is not None and self.thread.is_alive():
            self.say("a job is already running; cancel it first")
            return
        self._cancel.clear()
        self.thread = threading.Thread(target=self._follow, args=(action, self.jobs_for(action)), daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self._cancel.set()
        if self.job_id:
            try:
                self.client.cancel(self.job_id)
            except ServiceError as exc:
                self.say(str(exc))

    # -- following a job (background thread) --------------------------------------------------------------
    def _follow(self, action: str, jobs: list[tuple[str, dict]]) -> None:
        try:
            last = None
            for kind, args in jobs:
                if self._cancel.is_set():
                    return
                job = self.client.submit(kind, **args)
                self.job_id = job["id"]
                last = self.client.wait(
                    job["id"], poll=0.5, on_progress=lambda j: self._main(self._progress, j)
                )
                if last["state"] != "done":
                    self._main(self._failed, last)
                    return
            if action == "swap" and last is not None:
                self._main(self._finished, last)
            elif action == "extract":
                self._main(self._extracted)
            else:
                self._main(self.say, f"{action} done")
        except ServiceError as exc:
            self._main(self._failed, {"state": "failed", "error": str(exc), "kind": action})
        finally:
            self.job_id = None

    def _main(self, fn, *args) -> None:
        nuke.executeInMainThread(fn, args=args)

    def _progress(self, job: dict) -> None:
        self.say(
            f"{job['kind']}: {job['state']} {100 * job.get('fraction', 0):.0f}% {job.get('message', '')}"
        )

    def _failed(self, job: dict) -> None:
        if job["state"] == "cancelled":
            self.say(f"{job.get('kind', 'job')} cancelled")
            return
        text = f"{job.get('kind', 'job')} failed: {job.get('error') or 'unknown error'}"
        self.say(text)
        nuke.message(f"facegraft\n\n{text}")

    def _extracted(self) -> None:
        people = self.fill_persons(quiet=True)
        self.say(f"extract done: {len(people)} persons in the shot")

    def _finished(self, job: dict) -> None:
        result = job.get("result") or {}
        patterns = result.get("passes") or []
        if not patterns:
            self.say("swap done, but the service reported no pass files")
            return
        first = result.get("first_frame") or int(self.frames.value().split("-")[0])
        last = result.get("last_frame") or first
        spec = comp_spec(patterns[0], first, last, self.read.name(), colourspace=self.plate_colourspace())
        self.created = build(nuke, spec, self.read)
        comp = self.created["facegraft_comp"].name()
        self.say(f"swap done: {result.get('frames_done', 0)} frames, comp in {comp}")

    def say(self, text: str) -> None:
        self.status.setValue(text)


def show() -> FacegraftPanel | None:
    """Open the panel for the selected Read node (menu command)."""
    try:
        read = nuke.selectedNode()
    except ValueError:
        read = None
    if read is None or read.Class() != "Read":
        nuke.message("facegraft: select the plate's Read node first")
        return None
    panel = FacegraftPanel(read)
    panel.show()
    return panel
