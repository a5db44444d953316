"""The container executor's ``docker run`` / ``podman run`` command.

No container engine runs on this machine (no Docker daemon, no podman), so these tests check
the command the agent builds and the files it prepares, and do not run it."""

from __future__ import annotations

import stat
from pathlib import Path

from arno.agent._container import (
    CACHE,
    SDK_DIR,
    WORKSPACE,
    ContainerSpec,
    build_command,
    write_env_file,
)


def _spec(tmp_path: Path, **overrides) -> ContainerSpec:
    ws = tmp_path / "ws"
    (ws / "code" / "src").mkdir(parents=True)
    env_file = write_env_file(ws / ".arno-env", {
        "ARNO_TASK_ID": "t" * 32, "ARNO_API_HOST": "http://127.0.0.1:8080",
        "ARNO_API_KEY": "key", "ARNO_API_SECRET": "s3cret", "CUDA_VISIBLE_DEVICES": "0,1",
    })
    values = dict(
        image="pytorch/pytorch:2.3.0-cuda12.1-cudnn8-runtime", task_id="t" * 32,
        workspace=ws, code_root=ws / "code", entry_point=ws / "code" / "src" / "train.py",
        cwd=ws / "code" / "src", cache_dir=tmp_path / "cache", env_file=env_file,
        args=["--epochs", "3"], arguments="--shm-size=8g --ipc=host", gpus=["0", "1"],
        requirements=["numpy==1.26.4"], sdk_requirements=["httpx==0.28.1"],
        arno_package=Path("/opt/arno/src/arno"),
    )
    values.update(overrides)
    return ContainerSpec(**values)  # type: ignore[arg-type]


def test_docker_command_has_image_gpus_mounts_env_and_the_tasks_arguments(tmp_path):
    spec = _spec(tmp_path)
    cmd = build_command("/usr/bin/docker", spec)
    assert cmd[:3] == ["/usr/bin/docker", "run", "--rm"]
    joined = " ".join(cmd)
    assert "--gpus device=0,1" in joined
    assert f"-v {spec.workspace}:{WORKSPACE}" in joined
    assert f"-v {spec.cache_dir}:{CACHE}" in joined
    assert f"-v /opt/arno/src/arno:{SDK_DIR}/arno:ro" in joined
    assert f"--env-file {spec.env_file}" in joined
    assert f"-w {WORKSPACE}/code/src" in joined
    # the task's own docker arguments come before the image, its script arguments after
    image_at = cmd.index(spec.image)
    assert cmd.index("--shm-size=8g") < image_at and cmd.index("--ipc=host") < image_at
    script = cmd[-1]
    assert cmd[image_at + 1:image_at + 3] == ["sh", "-c"]
    assert "pip install" in script and "numpy==1.26.4" in script and "httpx==0.28.1" in script
    assert script.endswith(f"exec python3 -u {WORKSPACE}/code/src/train.py --epochs 3")
    # secrets are in the env file (owner-only), never on the command line
    assert "s3cret" not in joined
    assert "ARNO_API_SECRET=s3cret" in spec.env_file.read_text()
    assert stat.S_IMODE(spec.env_file.stat().st_mode) == 0o600


def test_cpu_only_and_inherited_gpus_and_podman(tmp_path):
    assert "--gpus" not in build_command("docker", _spec(tmp_path, gpus=[]))
    assert "--gpus" not in build_command("docker", _spec(tmp_path / "b", gpus=None))
    podman = build_command("/usr/bin/podman", _spec(tmp_path / "c", gpus=["1"]))
    assert podman[0] == "/usr/bin/podman"
    assert "--device" in podman and "nvidia.com/gpu=1" in podman and "--gpus" not in podman


def test_no_requirements_means_no_pip_step(tmp_path):
    cmd = build_command("docker", _spec(tmp_path, requirements=[], sdk_requirements=[],
                                        arno_package=None, arguments=""))
    assert "pip" not in cmd[-1]
    assert f"{SDK_DIR}/arno" not in " ".join(cmd)
