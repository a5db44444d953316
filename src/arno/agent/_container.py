"""The container executor: a task that names an image runs in it with docker (or podman).

The workspace (the task's code) is mounted at ``/arno/workspace``, a cache directory of the
agent at ``/root/.cache`` so pip downloads survive from one task to the next, and the agent's
arno package read-only at ``/arno/sdk/arno`` (on ``PYTHONPATH``). Inside, a short shell script
installs the task's requirements plus the client libraries arno needs, with the image's own
``python3``, then runs the entry point with the task's arguments. GPUs are passed with
``--gpus device=0,1`` (docker) or CDI device names (podman); ``--cpu-only`` passes none.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ContainerSpec", "build_command", "find_engine", "write_env_file"]

WORKSPACE = "/arno/workspace"
SDK_DIR = "/arno/sdk"
CACHE = "/root/.cache"


def find_engine(preferred: str | None = None) -> str | None:
    for name in ([preferred] if preferred else ["docker", "podman"]):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class ContainerSpec:
    image: str
    task_id: str
    workspace: Path  # host directory mounted at WORKSPACE
    code_root: Path  # inside workspace
    entry_point: Path  # inside code_root
    cwd: Path  # inside code_root
    cache_dir: Path
    env_file: Path  # the task's environment variables (secrets stay off the command line)
    args: list[str] = field(default_factory=list)
    arguments: str = ""  # extra `docker run` options recorded with the task
    gpus: list[str] | None = None  # None: the engine's default (no GPU flags)
    requirements: list[str] = field(default_factory=list)
    sdk_requirements: list[str] = field(default_factory=list)
    arno_package: Path | None = None


def _inside(spec: ContainerSpec, path: Path) -> str:
    rel = path.relative_to(spec.workspace)
    return f"{WORKSPACE}/{rel.as_posix()}" if str(rel) != "." else WORKSPACE


def _script(spec: ContainerSpec) -> str:
    lines = ["set -e"]
    reqs = [*spec.requirements, *spec.sdk_requirements]
    if reqs:
        lines.append("python3 -m pip install --quiet --disable-pip-version-check "
                     + " ".join(shlex.quote(r) for r in reqs))
    lines.append(f"cd {shlex.quote(_inside(spec, spec.cwd))}")
    lines.append("exec python3 -u " + " ".join(
        shlex.quote(a) for a in [_inside(spec, spec.entry_point), *spec.args]))
    return "\n".join(lines)


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    """``KEY=value`` lines for ``--env-file``, readable by the agent's user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for key in sorted(env):
            value = env[key].replace("\n", " ")
            fh.write(f"{key}={value}\n")
    return path


def build_command(engine: str, spec: ContainerSpec) -> list[str]:
    """The ``docker run`` (or ``podman run``) command that runs the task in its image."""
    is_podman = Path(engine).name.startswith("podman")
    cmd = [engine, "run", "--rm", "--init", "--name", f"arno-task-{spec.task_id}",
           "--label", f"arno.task={spec.task_id}", "--network", "host"]
    if spec.gpus is not None:
        if spec.gpus:
            if is_podman:
                for gpu in spec.gpus:
                    cmd += ["--device", f"nvidia.com/gpu={gpu}"]
            else:
                cmd += ["--gpus", f"device={','.join(spec.gpus)}"]
    cmd += ["-v", f"{spec.workspace}:{WORKSPACE}", "-v", f"{spec.cache_dir}:{CACHE}"]
    if spec.arno_package is not None:
        cmd += ["-v", f"{spec.arno_package}:{SDK_DIR}/arno:ro", "-e", f"PYTHONPATH={SDK_DIR}"]
    cmd += ["--env-file", str(spec.env_file), "-w", _inside(spec, spec.cwd)]
    if spec.arguments.strip():
        cmd += shlex.split(spec.arguments)
    cmd += [spec.image, "sh", "-c", _script(spec)]
    return cmd
