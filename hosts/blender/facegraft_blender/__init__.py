"""facegraft for Blender's Video Sequencer: a sidebar panel that sends the active image or movie strip to
the facegraft engine service and brings the passes back as image-sequence strips above it. A person
chooser lists the shot's persons as the service gives them; the person picked is the one swapped.

Work runs in the engine service; a `bpy.app.timers` callback follows the job, so the UI never waits.
The add-on uses the facegraft client (standard library only) and never imports torch or the engine.
Works with the VSE's ``sequences`` (Blender <= 4.3) and ``strips`` (4.4+) collections.
"""

from __future__ import annotations

import os
import re
import sys

bl_info = {
    "name": "facegraft",
    "author": "facegraft",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Video Sequencer > Sidebar > facegraft",
    "description": "Face replacement through the facegraft engine service: swap, comp, swap and matte strips",
    "category": "Sequencer",
}


def _client_module():
    """The facegraft client: installed, vendored into the add-on, from FACEGRAFT_CLIENT_PATH, or the repo."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [
        os.path.join(here, "_vendor"),
        os.environ.get("FACEGRAFT_CLIENT_PATH", ""),
        os.path.join(os.path.dirname(os.path.dirname(here)), "client"),
    ]
    try:
        import facegraft_client
    except ImportError:
        for path in candidates:
            if path and os.path.isfile(os.path.join(path, "facegraft_client", "__init__.py")):
                sys.path.insert(0, path)
                break
        import facegraft_client
    return facegraft_client


try:
    import bpy
except ImportError:  # imported outside Blender (packaging, import-graph checks)
    bpy = None

MERGE_OPTIONS = ("colour", "mask", "occlusion_mask", "erode", "feather")  # convert options the panel shows
ENGINE_DEFAULT = "engine-default"  # the one choice offered while the engine service has not been reached
ALL_PERSONS = "all"  # the person choice that sends no person option: every face is swapped
PASSES = ("comp", "swap", "matte")
POLL_SECONDS = 0.5
_state: dict = {
    "client": None,
    "jobs": [],
    "strip": None,
    "scene": None,
    "declared": None,
    "unreached": False,
    "persons": {},  # shot folder -> the persons the service listed for it
}
_items: dict = {}  # option name -> (choices, EnumProperty items)
_kept: list = []  # every items list handed to Blender: it reads their strings without holding them


def strips_of(editor):
    """The editor's strip collection under either name (4.4 renamed `sequences` to `strips`)."""
    found = getattr(editor, "strips", None)
    return found if found is not None else editor.sequences


def client():
    if _state["client"] is None:
        _state["client"] = _client_module().Client()  # finds the service, or starts it
    return _state["client"]


def declared_options() -> dict:
    """The convert options as the engine service declares them ({name: option}; the CLI's own), asked once.
    {} when the service cannot be reached; asked again after the next Swap, so a panel drawn meanwhile
    does not wait on a service start at every redraw."""
    if _state["declared"] is None and not _state["unreached"]:
        try:
            _state["declared"] = {o["name"]: o for o in client().options("convert")}
        except Exception:  # noqa: BLE001 - the panel still draws; Swap will say what is wrong
            _state["unreached"] = True
    return _state["declared"] or {}


def choice_items(name: str) -> list:
    """EnumProperty items of a convert option: the choices the service declares (every mode convert takes,
    the occlusion masks included), the engine's default first so that it is what an untouched property
    shows; a single `ENGINE_DEFAULT` item while the service has not been reached."""
    option = declared_options().get(name) or {}
    choices = [str(c) for c in option.get("choices") or []]
    default = option.get("default")
    if default in choices:
        choices.insert(0, choices.pop(choices.index(default)))
    key = tuple(choices)
    if name not in _items or _items[name][0] != key:
        help_text = str(option.get("help") or "")
        items = [(c, c, help_text) for c in choices] or [
            (
                ENGINE_DEFAULT,
                "engine default",
                "the engine service was not reached: convert's default is used",
            )
        ]
        _items[name] = (key, items)
        _kept.append(items)
    return _items[name][1]


def shot_folder(settings) -> str:
    """The shot folder the panel names (absolute), or ''."""
    return bpy.path.abspath(settings.shot) if settings.shot else ""


def shot_persons(shot: str, refresh: bool = False) -> list:
    """The persons of an extracted shot as the engine service lists them (asked once per shot, again on
    `refresh`); [] while the shot is not extracted, its faces are not grouped or the service is away."""
    if not shot or not os.path.isfile(os.path.join(shot, "alignments.db")):
        return []
    if refresh or shot not in _state["persons"]:
        try:
            _state["persons"][shot] = client().persons(shot)
        except Exception:  # noqa: BLE001 - the chooser offers every face; Swap says what is wrong
            _state["persons"][shot] = []
    return _state["persons"][shot]


def person_items(settings) -> list:
    """EnumProperty items of the person chooser: every face first, then each person of the shot (the
    identifier is the person id, sent to the engine; the enum number is the id too, so a choice stays
    with its person when the list is refilled in another order)."""
    people = shot_persons(shot_folder(settings)) if bpy is not None else []
    items = [(ALL_PERSONS, "All faces", "swap every face of the shot", 0)]
    for p in people:
        spans = ", ".join(f"{a}-{b}" for a, b in p.get("ranges", [])[:4])
        items.append((str(p["id"]), str(p["label"]), f"{p['faces']} faces, frames {spans}", int(p["id"])))
    key = ("person", tuple(items))
    if "person" not in _items or _items["person"][0] != key:
        _items["person"] = (key, items)
        _kept.append(items)
    return _items["person"][1]


def person_args(settings) -> dict:
    """The person option to send: the chosen person's id, nothing for every face."""
    chosen = settings.person
    return {} if chosen in ("", ALL_PERSONS) else {"person": chosen}


def merge_args(settings) -> dict:
    """The merge options to send: those the user set (the others are left to the engine's defaults)."""
    return {
        name: getattr(settings, name)
        for name in MERGE_OPTIONS
        if settings.is_property_set(name) and getattr(settings, name) not in ("", ENGINE_DEFAULT)
    }


def plate_of(strip) -> tuple[str, int, int]:
    """(engine plate pattern, first frame, last frame) of an image-sequence or movie strip."""
    if strip.type == "MOVIE":
        return bpy.path.abspath(strip.filepath), 1, int(strip.frame_duration)
    names = [e.filename for e in strip.elements]
    first = re.search(r"(\d+)(\.\w+)$", names[0])
    if first is None:
        raise ValueError(f"{names[0]}: not a numbered image sequence")
    last = re.search(r"(\d+)(\.\w+)$", names[-1])
    digits = first.group(1)
    pattern = names[0][: first.start(1)] + "#" * len(digits) + first.group(2)
    return os.path.join(bpy.path.abspath(strip.directory), pattern), int(digits), int(last.group(1))


def frame_file(pattern: str, frame: int) -> str:
    """One frame's file of a ``name.####.exr`` pattern."""
    width = pattern.count("#")
    return pattern.replace("#" * width, f"{frame:0{width}d}")


def pass_patterns(result: dict) -> dict:
    """{pass: pattern} from a convert result written with ``--layout files``."""
    out = {}
    for pattern in result.get("passes") or []:
        for name in PASSES:
            if f".{name}." in os.path.basename(pattern):
                out[name] = pattern
    return out


def add_pass_strips(scene, source, patterns: dict, first: int, last: int) -> list:
    """Image-sequence strips of the comp, swap (alpha over) and matte above `source`, frame-aligned."""
    editor = scene.sequence_editor
    made = []
    for k, name in enumerate(PASSES):
        files = [frame_file(patterns[name], f) for f in range(first, last + 1)]
        strip = strips_of(editor).new_image(
            name=f"facegraft_{name}",
            filepath=files[0],
            channel=source.channel + 1 + k,
            frame_start=int(source.frame_start),
        )
        for path in files[1:]:
            strip.elements.append(os.path.basename(path))
        strip.frame_offset_start = source.frame_offset_start
        strip.frame_offset_end = source.frame_offset_end
        strip.colorspace_settings.name = source.colorspace_settings.name
        if name == "swap":
            strip.blend_type = "ALPHA_OVER"
            strip.mute = True  # the comp already holds it; unmute to grade the face over the plate
        if name == "matte":
            strip.mute = True
        made.append(strip)
    return made


def poll_job():
    """The timer: follow the current job; start the next; add the strips when the swap is done."""
    settings = _state["scene"].facegraft
    try:
        job = client().job(_state["jobs"][0]["id"])
    except Exception as exc:  # noqa: BLE001 - whatever happened, it goes to the panel, not a traceback
        return _stop(settings, f"failed: {exc}")
    settings.progress = float(job.get("fraction") or 0.0)
    settings.status = f"{job['kind']}: {job['state']} {job.get('message', '')}".strip()
    if job["state"] in ("queued", "running"):
        return POLL_SECONDS
    if job["state"] != "done":
        return _stop(
            settings, f"{job['kind']} {job['state']}: {job.get('error') or job.get('message') or ''}"
        )
    if job["kind"] == "extract":
        _state["persons"].clear()  # the extraction grouped the shot's persons anew
    _state["jobs"].pop(0)
    if _state["jobs"]:
        kind, args = _state["jobs"][0]["spec"]
        _state["jobs"][0] = {**client().submit(kind, **args), "spec": (kind, args)}
        settings.job_id = _state["jobs"][0]["id"]
        return POLL_SECONDS
    result = job.get("result") or {}
    patterns = pass_patterns(result)
    if set(patterns) != set(PASSES):
        return _stop(settings, "swap done, but the service reported no pass files")
    add_pass_strips(_state["scene"], _state["strip"], patterns, result["first_frame"], result["last_frame"])
    return _stop(settings, f"swap done: {result.get('frames_done', 0)} frames")


def _stop(settings, text: str):
    settings.status = text
    settings.job_id = ""
    _state["jobs"] = []
    return None


if bpy is not None:

    class FacegraftSettings(bpy.types.PropertyGroup):
        model: bpy.props.StringProperty(name="Model", subtype="DIR_PATH")
        shot: bpy.props.StringProperty(name="Shot folder", subtype="DIR_PATH")
        output: bpy.props.StringProperty(name="Passes folder", subtype="DIR_PATH")
        occlusion_mask: bpy.props.StringProperty(
            name="Occlusion mask",
            description="the stored mask the occlusion mask modes use (empty: the engine's default)",
        )
        erode: bpy.props.FloatProperty(name="Erode", default=0.0)
        feather: bpy.props.FloatProperty(name="Feather", default=6.0, min=0.0)
        status: bpy.props.StringProperty(name="Status", default="idle")
        progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
        job_id: bpy.props.StringProperty(name="Job")

    # Choices come from the engine service's declarations (the CLI's), never from a list kept here. Set as
    # objects, not string annotations: Blender evaluates those where this module's names are not defined.
    FacegraftSettings.__annotations__.update(
        colour=bpy.props.EnumProperty(name="Colour", items=lambda self, context: choice_items("colour")),
        mask=bpy.props.EnumProperty(name="Mask", items=lambda self, context: choice_items("mask")),
        person=bpy.props.EnumProperty(
            name="Person",
            description="who to swap: the shot's persons as the engine service lists them",
            items=lambda self, context: person_items(self),
        ),
    )

    class FACEGRAFT_OT_persons(bpy.types.Operator):
        """List the shot's persons again (after an extraction, or after naming or merging them)"""

        bl_idname = "facegraft.persons"
        bl_label = "Refresh persons"

        def execute(self, context):
            settings = context.scene.facegraft
            people = shot_persons(shot_folder(settings), refresh=True)
            settings.status = f"{len(people)} persons in the shot" if people else "no persons: every face"
            return {"FINISHED"}

    class FACEGRAFT_OT_swap(bpy.types.Operator):
        """Swap the face of the active strip through the facegraft engine service"""

        bl_idname = "facegraft.swap"
        bl_label = "Swap"

        @classmethod
        def poll(cls, context):
            editor = context.scene.sequence_editor
            strip = editor.active_strip if editor else None
            return (
                strip is not None and strip.type in ("IMAGE", "MOVIE") and not context.scene.facegraft.job_id
            )

        def execute(self, context):
            scene = context.scene
            settings = scene.facegraft
            strip = scene.sequence_editor.active_strip
            try:
                plate, first, last = plate_of(strip)
            except ValueError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            base = os.path.join(os.path.dirname(plate), "facegraft")
            shot = bpy.path.abspath(settings.shot) or os.path.join(base, "shot")
            out = bpy.path.abspath(settings.output) or os.path.join(base, "passes")
            frames = f"{first}-{last}"
            specs = []
            if not os.path.isfile(os.path.join(shot, "alignments.db")):
                specs.append(("extract", {"plate": plate, "shot": shot, "frames": frames}))
            # Options the user never touched are left to the engine's own defaults (the CLI's).
            merge = {**merge_args(settings), **person_args(settings)}
            _state["unreached"] = False  # the choices are asked for again once the service answers
            specs.append(
                ("convert", {"plate": plate, "shot": shot, "model": bpy.path.abspath(settings.model),
                             "out_dir": out, "frames": frames, "layout": "files", **merge})
            )  # fmt: skip
            try:
                kind, args = specs[0]
                first_job = client().submit(kind, **args)
            except Exception as exc:  # noqa: BLE001 - shown in the panel
                settings.status = f"failed: {exc}"
                self.report({"ERROR"}, settings.status)
                return {"CANCELLED"}
            _state.update(scene=scene, strip=strip, jobs=[{**first_job, "spec": specs[0]}])
            _state["jobs"] += [{"id": None, "spec": s} for s in specs[1:]]
            settings.job_id = first_job["id"]
            settings.status = f"{kind} queued"
            bpy.app.timers.register(poll_job, first_interval=POLL_SECONDS)
            return {"FINISHED"}

    class FACEGRAFT_OT_cancel(bpy.types.Operator):
        """Cancel the running facegraft job"""

        bl_idname = "facegraft.cancel"
        bl_label = "Cancel"

        @classmethod
        def poll(cls, context):
            return bool(context.scene.facegraft.job_id)

        def execute(self, context):
            try:
                client().cancel(context.scene.facegraft.job_id)
            except Exception as exc:  # noqa: BLE001
                self.report({"ERROR"}, f"cancel failed: {exc}")
            return {"FINISHED"}

    class FACEGRAFT_PT_panel(bpy.types.Panel):
        bl_label = "facegraft"
        bl_space_type = "SEQUENCE_EDITOR"
        bl_region_type = "UI"
        bl_category = "facegraft"

        def draw(self, context):
            layout = self.layout
            settings = context.scene.facegraft
            for prop in ("model", "shot", "output", *MERGE_OPTIONS):
                layout.prop(settings, prop)
            row = layout.row()
            row.prop(settings, "person")
            row.operator("facegraft.persons", text="", icon="FILE_REFRESH")
            row = layout.row()
            row.operator("facegraft.swap")
            row.operator("facegraft.cancel")
            layout.prop(settings, "progress", slider=True)
            layout.label(text=settings.status)

    CLASSES = (
        FacegraftSettings,
        FACEGRAFT_OT_persons,
        FACEGRAFT_OT_swap,
        FACEGRAFT_OT_cancel,
        FACEGRAFT_PT_panel,
    )


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.facegraft = bpy.props.PointerProperty(type=FacegraftSettings)


def unregister() -> None:
    if bpy.app.timers.is_registered(poll_job):
        bpy.app.timers.unregister(poll_job)
    del bpy.types.Scene.facegraft
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
