"""`facegraft farm openjd`: an Open Job Description job template (``jobtemplate-2023-09``) that runs any
frame-range command of facegraft over chunks of frames.

The frames become a ``CHUNK[INT]`` task parameter (the TASK_CHUNKING extension: contiguous chunks of
``ChunkSize`` frames), handed to the command as ``--frames``; the command's own arguments become job
parameters built from the command registry's declarations (paths as PATH parameters of their declared
kind and flow, so a farm can remap them; choices as allowed values; numbers with their ranges), and the
command reports progress with ``--progress openjd`` (``openjd_progress: N`` lines). The template is
checked with `openjd-model` before it is written.

Who is swapped travels too: ``--person`` becomes a ``Person`` parameter (a STRING for an id or name, a
FILE PATH for a reference photo), a repeated option one parameter per value (``Person``, ``Person2``...),
and each ``--swap PERSON=MODELDIR`` a ``Swap``/``SwapModel`` pair (the model a DIRECTORY PATH), joined
back as ``--swap {{Param.Swap}}={{Param.SwapModel}}``.
"""

from __future__ import annotations

import re
from pathlib import Path

from facegraft.commands import JOB_COMMANDS, cli_flag, parser
from facegraft.errors import InputError
from facegraft.io.atomic import write_bytes_atomic
from facegraft.io.framespec import parse_frame_spec
from facegraft.options import choices_of, flag_of

FRAME_COMMANDS = tuple(name for name, c in JOB_COMMANDS.items() if c.frames)
OBJECT_TYPES = {"file": "FILE", "plate": "FILE", "folder": "DIRECTORY"}  # declared path kind -> OpenJD


def _param_name(dest: str) -> str:
    return "".join(part.capitalize() for part in dest.split("_"))


def openjd_range(spec: str) -> str:
    """A farm frame spec (1001-1100x2, 1001,1005) as an OpenJD range expression (1001-1100:2, 1001,1005)."""
    parse_frame_spec(spec)  # refuses a bad spec with the project's message
    return re.sub(r"x(\d+)", r":\1", spec.replace(" ", ""))


def job_template(
    command: list[str], frames: str, chunk_size: int = 10, name: str | None = None, base: Path | None = None
) -> tuple[dict, dict]:
    """(template, path values) from a facegraft command line (without --frames) and the frames to cover.

    A PATH parameter has a default only when it lies under `base`, the template's folder (OpenJD joins
    defaults to it and forbids walking up); the values of all of them are returned for a parameters file."""
    if not command or command[0] not in FRAME_COMMANDS:
        raise InputError(f"give a frame-range command after --: {' | '.join(FRAME_COMMANDS)} ...")
    if chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1, got {chunk_size}")
    ns = parser(command[0]).parse_args(command[1:])
    if getattr(ns, "frames", None):
        raise InputError("give the frames with --frames before --, not to the command")
    params: list[dict] = [
        {"name": "Frames", "type": "STRING", "default": openjd_range(frames), "description": "frames to run"},
        {
            "name": "ChunkSize",
            "type": "INT",
            "default": chunk_size,
            "minValue": 1,
            "description": "frames a task",
        },
        {
            "name": "Facegraft",
            "type": "STRING",
            "default": "facegraft",
            "description": "the facegraft command",
        },
    ]
    args: list[str] = [command[0]]
    values: dict[str, str] = {}
    root = (base or Path.cwd()).absolute()
    for cls, f in JOB_COMMANDS[command[0]].fields():
        value = getattr(ns, f.name, None)
        if f.name == "frames" or value is None:
            continue
        meta = f.metadata
        flag = [] if meta.get("positional") else [flag_of(f)]
        if isinstance(value, bool):  # a switch: it stays in the command as it was given
            if value != f.default:
                args.append(cli_flag(cls, f))
            continue
        if isinstance(value, (list, tuple)) or meta.get("person_of"):
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            if not meta.get("repeat") and len(items) > 1:
                items = [",".join(map(str, items))]  # a comma-separated option: one value
            for k, item in enumerate(items):  # one parameter per value of a repeated option
                pname = _param_name(f.name) + (str(k + 1) if k else "")
                if meta.get("person_of"):
                    ref = _person_param(params, values, pname, bool(meta.get("paired")), str(item), root)
                else:
                    params.append({"name": pname, "type": "STRING", "default": str(item)})
                    ref = "{{Param." + pname + "}}"
                args += [*flag, ref]
            continue
        pname = _param_name(f.name)
        param: dict = {"name": pname, "default": str(value), "description": meta["help"]}
        if meta.get("path"):
            _as_path(param, values, value, OBJECT_TYPES[meta["path"]], meta.get("flow", "in").upper(), root)
        elif isinstance(value, int):
            param.update(type="INT", default=value, **_range(meta, "Value"))
        elif isinstance(value, float):
            param.update(type="FLOAT", default=str(value), **_range(meta, "Value"))
        else:
            param.update(type="STRING")
            if choices_of(f):
                param["allowedValues"] = choices_of(f)
        params.append(param)
        args += [*flag, "{{Param." + pname + "}}"]
    args += ["--frames", "{{Task.Param.Frame}}", "--progress", "openjd"]
    template = {
        "specificationVersion": "jobtemplate-2023-09",
        "extensions": ["TASK_CHUNKING"],
        "name": name or f"facegraft {command[0]}",
        "parameterDefinitions": params,
        "steps": [
            {
                "name": command[0],
                "parameterSpace": {
                    "taskParameterDefinitions": [
                        {
                            "name": "Frame",
                            "type": "CHUNK[INT]",
                            "range": "{{Param.Frames}}",
                            "chunks": {
                                "defaultTaskCount": "{{Param.ChunkSize}}",
                                "rangeConstraint": "CONTIGUOUS",
                            },
                        }
                    ]
                },
                "script": {"actions": {"onRun": {"command": "{{Param.Facegraft}}", "args": args}}},
            }
        ],
    }
    validate(template)
    return template, values


def _as_path(param: dict, values: dict, value, kind: str, flow: str, root: Path) -> None:
    """Make `param` a PATH parameter of `value`; its absolute value goes into `values`."""
    param.update(type="PATH", objectType=kind, dataFlow=flow)
    absolute = Path(value).absolute()
    values[param["name"]] = str(absolute)
    # OpenJD joins a PATH default to the template's folder and forbids walking up out of it.
    if root in absolute.parents:
        param["default"] = str(absolute.relative_to(root))
    else:
        param.pop("default", None)


def _range(meta, suffix: str) -> dict:
    """OpenJD's minValue/maxValue of a declared number's bounds."""
    lo, hi = meta.get("bounds") or (None, None)
    return {k: v for k, v in (("min" + suffix, lo), ("max" + suffix, hi)) if v is not None}


def _person_param(params: list, values: dict, pname: str, paired: bool, item: str, root: Path) -> str:
    """Parameters for one value of a person option; returns the argument that stands for it."""
    from facegraft.persons.select import is_photo_spec, split_pair

    def one(name: str, spec: str, description: str) -> str:
        param: dict = {"name": name, "default": spec, "description": description}
        if is_photo_spec(spec):  # a reference photo: a path the farm may remap
            _as_path(param, values, spec, "FILE", "IN", root)
        else:
            param.update(type="STRING")
        params.append(param)
        return "{{Param." + name + "}}"

    if not paired:
        return one(pname, item, "who is swapped: a person id, name or reference photo")
    person, model = split_pair(item, "--swap")
    ref = one(pname, person, "the person this model swaps (id, name or reference photo)")
    mparam: dict = {"name": f"{pname}Model", "default": model, "description": f"the model for {person}"}
    _as_path(mparam, values, model, "DIRECTORY", "IN", root)
    params.append(mparam)
    return ref + "={{Param." + pname + "Model}}"


def validate(template: dict) -> None:
    """Raise InputError with openjd-model's reason when the template is not a valid job template."""
    from openjd.model import DecodeValidationError, decode_job_template

    try:
        decode_job_template(template=template, supported_extensions=["TASK_CHUNKING"])
    except DecodeValidationError as exc:
        raise InputError(f"the job template does not validate: {exc}") from exc


def write_job(path: str | Path, template: dict, values: dict) -> tuple[Path, Path]:
    """Write the template as YAML and ``<name>.params.json`` with the path values (temporary names first).

    Run it with ``openjd run JOB -p file://JOB.params.json``, or submit both as a job bundle."""
    import json

    import yaml

    path = Path(path)
    if not path.parent.is_dir():
        raise InputError("the folder for the job template does not exist", path.parent)
    params = path.with_name(f"{path.stem}.params.json")
    write_bytes_atomic(path, yaml.safe_dump(template, sort_keys=False).encode(), "the job template")
    write_bytes_atomic(params, json.dumps(values, indent=2).encode(), "the job parameters")
    return path, params
