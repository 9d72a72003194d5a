"""A StyleLock job as an Open Job Description job bundle (`jobtemplate-2023-09`).

    bundle = write_bundle(spec, "bundles/sh010", chunk=24)
    # openjd run bundles/sh010/template.yaml -p file://bundles/sh010/parameter_values.yaml

The bundle holds `template.yaml`, `parameter_values.yaml` (every parameter's value, as the OpenJD
CLI reads them) and `job.json` (the job spec: engine, parameters, colour). Every path the job reads
or writes is a PATH job parameter (the plate's folder, the output folder, each style reference,
an OCIO config file, mask and guide folders), so a farm's path mapping moves them between the
submitter's and the workers' storage; the task passes them to `stylelock farm task` on top of the
spec. One step, `Restyle`, has one task per chunk of frames: a `CHUNK[INT]` task parameter (the
TASK_CHUNKING extension) or, with `task_chunking=False`, a list of range expressions for runtimes
without it. A step environment starts a StyleLock server once per worker session, so a model
loads once per worker and not once per chunk, or uses the server named by the `Server` parameter.
Chunks are the same bytes as one run: every engine keeps its warm-up contract per chunk.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylelock.core.errors import SpecError
from stylelock.core.farm.yaml_text import dump
from stylelock.core.jobspec import ColourSettings, JobSpec, OutputSettings
from stylelock.core.paths import names_files
from stylelock.core.sequence import FramePattern, format_frames, parse_frames

STATE_FILE = "{{Session.WorkingDirectory}}/stylelock-server.json"


@dataclass(frozen=True)
class Bundle:
    folder: Path
    template: Path
    parameter_values: Path
    spec: Path
    parameters: Mapping[str, Any]
    path_parameters: tuple[str, ...] = ()
    """The PATH parameters that have no default (every one but JobSpec): a farm submission names them."""

    def path_values(self) -> dict[str, Any]:
        """The values a submission must give (`deadline bundle submit -p NAME=VALUE`)."""
        return {name: self.parameters[name] for name in self.path_parameters}


def openjd_range(frames: list[int]) -> str:
    """`frames` as an OpenJD range expression (`1001-1100:2`, `1001,1005-1010`)."""
    return format_frames(frames).replace("x", ":")


def chunk_ranges(frames: list[int], chunk: int) -> list[str]:
    """Consecutive runs of `chunk` frames as range expressions (for runtimes without TASK_CHUNKING)."""
    return [openjd_range(frames[i : i + chunk]) for i in range(0, len(frames), chunk)]


def _identifier(text: str, taken: set[str]) -> str:
    """`text` as a parameter name (letters, digits, `_`), unique among `taken` (`a-b`, `a_b` differ)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", text)
    cleaned = cleaned if cleaned[:1].isalpha() else f"G_{cleaned}"
    name, number = cleaned, 2
    while name in taken:
        name, number = f"{cleaned}_{number}", number + 1
    taken.add(name)
    return name


def _path_parameter(name: str, kind: str, flow: str, description: str) -> dict[str, Any]:
    return {"name": name, "type": "PATH", "objectType": kind, "dataFlow": flow, "description": description}


class _TemplateBuilder:
    """Collects the job parameters, their values and the task's arguments for one spec."""

    def __init__(self) -> None:
        self.definitions: list[dict[str, Any]] = []
        self.values: dict[str, Any] = {}
        self.task_args: list[str] = []
        self.roots: list[str] = []
        self.files: set[str] = set()

    def parameter(self, definition: dict[str, Any], value: Any) -> str:
        self.definitions.append(definition)
        self.values[definition["name"]] = value
        return "{{Param." + definition["name"] + "}}"

    def sequence(self, name: str, pattern: str, flow: str, what: str) -> str:
        """A file sequence: its folder as a PATH parameter, its file name pattern as a STRING."""
        sequence = FramePattern.parse(str(Path(pattern).absolute()))
        folder = self.parameter(
            _path_parameter(f"{name}Dir", "DIRECTORY", flow, f"the folder of {what}"), sequence.dirname
        )
        names = Path(sequence.pattern).name
        definition = {"name": f"{name}Name", "type": "STRING", "default": names}
        file_name = self.parameter({**definition, "description": f"the file names of {what}"}, names)
        self.roots.append(folder)
        return f"{folder}/{file_name}"


def _root_flag(root: str, output_root: str, files: set[str]) -> str:
    """How the session start is told about a path: the output folder is made if missing, a file's
    folder is allowed, a folder is allowed as it is."""
    if root == output_root:
        return "--output-root"
    return "--allow-file" if root in files else "--allow-root"


def build_template(
    spec: JobSpec,
    *,
    chunk: int,
    server: str = "",
    command: str = "stylelock",
    task_chunking: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job template and the values of every one of its parameters, for `spec`."""
    if chunk < 1:
        raise SpecError(f"--chunk {chunk} must be at least 1")
    if not spec.output.pattern:
        raise SpecError("a farm job needs an output pattern (--out)")
    frames = parse_frames(spec.frames)
    build = _TemplateBuilder()
    spec_param = build.parameter(
        {
            "name": "JobSpec",
            "type": "PATH",
            "objectType": "FILE",
            "dataFlow": "IN",
            "default": "job.json",
            "description": "the job's settings (engine, parameters, colour); the paths below replace its own",
        },
        "job.json",
    )
    plate = build.sequence("Plate", spec.plate, "IN", "the plate")
    output = build.sequence("Output", spec.output.pattern, "OUT", "the restyled frames")
    output_root = build.roots[-1]  # made by the session if it does not exist yet
    args = [plate, "--spec", spec_param, "--out", output]
    for index, style in enumerate(spec.styles, start=1):
        path = build.parameter(
            _path_parameter(f"Style{index}", "FILE", "IN", f"style reference {index}"),
            str(Path(style.path).absolute()),
        )
        build.roots.append(path)
        build.files.add(path)
        args += ["--style", path if style.frame is None else f"{style.frame}={path}"]
    if spec.colour.config and not spec.colour.config.startswith("ocio://"):
        config = build.parameter(
            _path_parameter("OcioConfig", "FILE", "IN", "the OCIO config"),
            str(Path(spec.colour.config).absolute()),
        )
        build.roots.append(config)
        build.files.add(config)
        args += ["--ocio", config]
    if spec.mask and names_files(spec.mask):
        args += ["--mask", build.sequence("Mask", spec.mask, "IN", "the matte")]
    guide_names: set[str] = set()
    for name, source in spec.guides.items():
        if names_files(source):
            parameter = _identifier(f"Guide_{name}", guide_names)
            args += ["--guide", f"{name}={build.sequence(parameter, source, 'IN', f'guide {name}')}"]
    frames_param = build.parameter(
        {
            "name": "Frames",
            "type": "STRING",
            "minLength": 1,
            "default": openjd_range(frames),
            "description": "frames to restyle, e.g. 1001-1240",
        },
        openjd_range(frames),
    )
    chunk_param = build.parameter(
        {
            "name": "ChunkSize",
            "type": "INT",
            "minValue": 1,
            "default": chunk,
            "description": "frames per task",
        },
        chunk,
    )
    server_param = build.parameter(
        {
            "name": "Server",
            "type": "STRING",
            "default": "",
            "description": "a StyleLock server for all tasks (host:port); empty: one per worker session",
        },
        server,
    )
    command_param = build.parameter(
        {
            "name": "StyleLock",
            "type": "STRING",
            "default": command,
            "description": "the stylelock command on workers",
        },
        command,
    )
    if task_chunking:
        stepped = any(b - a != 1 for a, b in itertools.pairwise(frames))
        task_parameter = {
            "name": "Frames",
            "type": "CHUNK[INT]",
            "range": frames_param,
            "chunks": {
                "defaultTaskCount": chunk_param,
                "rangeConstraint": "NONCONTIGUOUS" if stepped else "CONTIGUOUS",
            },
        }
    else:
        task_parameter = {"name": "Frames", "type": "STRING", "range": chunk_ranges(frames, chunk)}
    roots = [arg for root in build.roots for arg in (_root_flag(root, output_root, build.files), root)]
    template = {
        "specificationVersion": "jobtemplate-2023-09",
        **({"extensions": ["TASK_CHUNKING"]} if task_chunking else {}),
        "name": f"StyleLock {Path(spec.plate).name} {openjd_range(frames)}",
        "description": f"Restyle with the {spec.engine} engine (stylelock farm openjd)",
        "parameterDefinitions": build.definitions,
        "steps": [
            {
                "name": "Restyle",
                "parameterSpace": {"taskParameterDefinitions": [task_parameter]},
                "stepEnvironments": [
                    {
                        "name": "StyleLockServer",
                        "description": "one StyleLock server per worker session (or the Server parameter's)",
                        "script": {
                            "actions": {
                                "onEnter": {
                                    "command": command_param,
                                    "args": [
                                        "farm",
                                        "session",
                                        "start",
                                        "--state",
                                        STATE_FILE,
                                        "--server",
                                        server_param,
                                        *roots,
                                    ],
                                },
                                "onExit": {
                                    "command": command_param,
                                    "args": ["farm", "session", "stop", "--state", STATE_FILE],
                                },
                            }
                        },
                    }
                ],
                "script": {
                    "actions": {
                        "onRun": {
                            "command": command_param,
                            # a cancelled or requeued task first asks its job on the server to stop
                            "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 60},
                            "args": [
                                "farm",
                                "task",
                                *args,
                                "--frames",
                                "{{Task.Param.Frames}}",
                                "--state",
                                STATE_FILE,
                            ],
                        }
                    }
                },
            }
        ],
    }
    return template, build.values


def write_bundle(
    spec: JobSpec,
    folder: str | Path,
    *,
    chunk: int,
    server: str = "",
    command: str = "stylelock",
    task_chunking: bool = True,
) -> Bundle:
    """Write `template.yaml`, `parameter_values.yaml` and `job.json` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    template, values = build_template(
        spec, chunk=chunk, server=server, command=command, task_chunking=task_chunking
    )
    stored = spec.with_changes(
        colour=ColourSettings(
            None
            if spec.colour.config and not spec.colour.config.startswith("ocio://")
            else spec.colour.config,
            spec.colour.input_space,
            spec.colour.encoding,
        ),
        output=OutputSettings(spec.output.pattern, spec.output.compression, spec.output.resume),
    )
    paths = {name: folder / name for name in ("template.yaml", "parameter_values.yaml", "job.json")}
    values["JobSpec"] = str(paths["job.json"].absolute())
    paths["job.json"].write_text(stored.to_json() + "\n")
    paths["template.yaml"].write_text(dump(template))
    paths["parameter_values.yaml"].write_text(dump(values))
    required = tuple(
        p["name"] for p in template["parameterDefinitions"] if p["type"] == "PATH" and "default" not in p
    )
    return Bundle(
        folder, paths["template.yaml"], paths["parameter_values.yaml"], paths["job.json"], values, required
    )
