"""Image connectors (flow-protocol §1.1-1.3): which container engine runs them, what the image
says about itself, and the commands that start one connector process in a fresh container.

Flow pulls the image (not `:local` tags), inspects it, refuses it without a
`FLOW_RUNTIME_PROTOCOL` label (or with the other task kind's), and connector-init picks the
codec from the `FLOW_RUNTIME_CODEC` label or env; then every RPC gets a fresh container running
the image's own program with `LOG_FORMAT=json` and `LOG_LEVEL`. flowctl does the same with
whichever engine this machine has, picked like build-local.sh picks one:

* docker, when a Docker engine answers (`docker run -i --rm`, `--network`, default `bridge`);
* else podman, when it can start containers (some machines cannot: no cgroups or rlimits for
  its OCI runtime; a probe container with a missing entrypoint tells which);
* else buildah: a working container (`buildah from`), the program run in it with chroot
  isolation (`buildah run`, which applies the image's user, working directory and environment),
  the container removed afterwards. Its network is this machine's (`host`, the default) or none
  at all (`none`: `unshare --net`, no interface up).

CONTAINER_ENGINE=docker|podman|buildah picks one, as for build-local.sh.

The directory of the catalog file that defines the task is mounted read-write at the same path
in the container (see mount_dirs), so a config path under it (e.g. a SQLite file) means the same
file inside and out. The connector runs in the image's working directory, as the image's user, as under Flow:
give such paths absolutely, and make their directory writable by the image's user.

Each process runs under container_guard.py, which removes its container however the process
ends and dies with flowctl.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConnectorError, ContainerEngineError

ENGINES = ("docker", "podman", "buildah")
BUILDAH_NETWORKS = ("host", "none")
_PROBE_ENTRYPOINT = "/flowctl-probe-no-such-program"
# Where the guard puts the fresh container's name (an argument of exactly this text).
CONTAINER = "{container}"
# podman/docker exit 127 when the container started but its program does not exist, 126 when
# the OCI runtime could not start the container (e.g. `crun: setrlimit ...: OCI permission denied`).
_STARTED_BUT_NOT_FOUND = 127
_CANNOT_START = 126


@dataclass(frozen=True)
class ImageConfig:
    """What the runtime reads from the image's inspection."""

    labels: dict[str, str] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    def env_value(self, name: str) -> str | None:
        return next((e.split("=", 1)[1] for e in self.env if e.startswith(f"{name}=")), None)

    @property
    def program(self) -> list[str]:
        """What connector-init spawns: the entrypoint, else the command."""
        return self.entrypoint or self.cmd


async def _command(*argv: str, limit: float = 60) -> tuple[int, str, str]:
    """Run an engine command: its exit status, stdout and stderr (127 when it cannot start)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return 127, "", str(exc)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, "", f"`{' '.join(argv)}` did not finish within {limit:g}s"
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


async def _docker_problem() -> str | None:
    """Why docker cannot run images here, or None when its engine answers."""
    if shutil.which("docker") is None:
        return "the `docker` command is not installed"
    code, out, err = await _command("docker", "version", "--format", "{{.Server.Version}}", limit=20)
    if code == 0:
        return None
    return _last_line(err) or _last_line(out) or f"`docker version` exited {code}"


_podman_checked: dict[str, str | None] = {}


async def _podman_problem(image: str) -> str | None:
    """Why podman cannot start containers here, or None when it can (checked once: a container
    of `image` whose entrypoint does not exist must fail for that reason, not another)."""
    if shutil.which("podman") is None:
        return "the `podman` command is not installed"
    if "podman" in _podman_checked:
        return _podman_checked["podman"]
    code, _, err = await _command(
        "podman", "run", "--rm", "--pull=never", "--network=none",
        f"--entrypoint={_PROBE_ENTRYPOINT}", image,
    )  # fmt: skip
    problem = None if code == _STARTED_BUT_NOT_FOUND else (_last_line(err) or f"exit {code}")
    if code in (_STARTED_BUT_NOT_FOUND, _CANNOT_START):  # decisive for any image, not just this one
        _podman_checked["podman"] = problem
    return problem


def _check_forced(name: str) -> None:
    if name not in ENGINES:
        raise ContainerEngineError(f"CONTAINER_ENGINE must be docker, podman or buildah, not {name!r}")
    if shutil.which(name) is None:
        raise ContainerEngineError(f"CONTAINER_ENGINE={name}, but the `{name}` command is not installed")


async def choose_engine(image: str, what: str) -> str:
    """The engine that runs `image` (docker, podman or buildah). `what` names the task for
    the error when none can."""
    forced = os.environ.get("CONTAINER_ENGINE", "")
    if forced:
        _check_forced(forced)
        if forced == "docker" and (problem := await _docker_problem()):
            raise ContainerEngineError(
                f"{what} uses the image connector {image!r}, and CONTAINER_ENGINE=docker, but no Docker "
                f"engine answers ({problem}). Start Docker, or unset CONTAINER_ENGINE to use podman or buildah"
            )
        return forced
    docker = await _docker_problem()
    if docker is None:
        return "docker"
    problems = [f"docker: {docker}"]
    if shutil.which("podman") is not None:
        await pull("podman", image)
        podman = await _podman_problem(image)
        if podman is None:
            return "podman"
        problems.append(f"podman cannot start containers: {podman}")
    else:
        problems.append("podman: not installed")
    if shutil.which("buildah") is not None:
        return "buildah"
    problems.append("buildah: not installed")
    raise ContainerEngineError(
        f"{what} uses the image connector {image!r}, which needs a container engine, but none can run it "
        f"({'; '.join(problems)}). Start Docker, or install podman or buildah (Debian: apt-get install "
        "buildah), or use an `endpoint.local` command instead"
    )


_pulled: dict[tuple[str, str], str | None] = {}


async def pull(engine: str, image: str) -> str | None:
    """Pull `image` as the runtime does (never a `:local` tag); None when it worked or was not
    needed, else the engine's reason (the image may still be present: inspection decides)."""
    if image.endswith(":local"):
        return None
    store = "docker" if engine == "docker" else "containers-storage"  # podman and buildah share one
    if (store, image) not in _pulled:
        if engine == "buildah":
            argv = ["buildah", "pull", "--quiet", "--policy", "always", image]
        else:
            argv = [engine, "pull", "--quiet", image]
        code, _, err = await _command(*argv, limit=600)
        _pulled[store, image] = None if code == 0 else (_last_line(err) or f"exit {code}")
    return _pulled[store, image]


async def inspect(engine: str, image: str) -> ImageConfig:
    """The image's configuration, as `docker inspect` shows it."""
    if engine == "buildah":
        argv = ["buildah", "inspect", "--type", "image", image]
    else:
        argv = [engine, "image", "inspect", image]
    code, out, err = await _command(*argv)
    if code != 0:
        reason = _last_line(err) or f"exit {code}"
        pulled = await pull(engine, image)
        hint = f"; pulling it failed: {pulled}" if pulled else ""
        local = (
            " (a `:local` tag is never pulled: build it, e.g. ./build-local.sh)"
            if image.endswith(":local")
            else ""
        )
        raise ConnectorError(f"{image}: the image is not available to {engine}: {reason}{hint}{local}")
    data: Any = json.loads(out) if out.strip() else {}
    if engine == "buildah":
        config = (data.get("Docker") or {}).get("config") or (data.get("OCIv1") or {}).get("config") or {}
    else:
        config = (data[0] if isinstance(data, list) and data else {}).get("Config") or {}
    return ImageConfig(
        labels=dict(config.get("Labels") or {}),
        env=list(config.get("Env") or []),
        entrypoint=list(config.get("Entrypoint") or []),
        cmd=list(config.get("Cmd") or []),
    )


def check_image(image: str, config: ImageConfig, kind: str, name: str) -> None:
    """The runtime's checks of an inspected image for a task of `kind` (capture|materialization)."""
    labels = config.labels
    if "FLOW_RUNTIME_PROTOCOL" not in labels:
        raise ConnectorError(f"{image}: image is missing required 'FLOW_RUNTIME_PROTOCOL' label")
    protocol = "materialize" if kind == "materialization" else "capture"
    if labels["FLOW_RUNTIME_PROTOCOL"] != protocol:
        raise ConnectorError(
            f"{image}: the image is a {labels['FLOW_RUNTIME_PROTOCOL']!r} connector "
            f"(FLOW_RUNTIME_PROTOCOL), but {kind} {name!r} needs a {protocol!r} one"
        )
    codec = labels.get("FLOW_RUNTIME_CODEC") or config.env_value("FLOW_RUNTIME_CODEC") or ""
    if codec != "json":
        raise ConnectorError(
            f"{image}: the image speaks the protobuf codec (no FLOW_RUNTIME_CODEC=json label or env); "
            "flowctl drives JSON-lines connectors only"
        )


def mount_dirs(directory: str) -> list[str]:
    """The host paths of the catalog's directory, each mounted at the same path in the container:
    as written (made absolute) and, when a symbolic link leads there, its real path too, so a
    config path spelt either way names the same file inside and out."""
    paths = list(dict.fromkeys([os.path.abspath(directory), str(Path(directory).resolve())]))
    if "/" in paths:
        raise ContainerEngineError(
            "the catalog is in / , which cannot be mounted over the image's root: move it into a directory"
        )
    return paths


def guard_spec(
    engine: str,
    image: str,
    config: ImageConfig,
    network: str | None,
    env: dict[str, str],
    mounts: list[str],
) -> dict[str, Any]:
    """What container_guard.py runs for each connector process: `create` (a working container,
    buildah only), `run` (the process, stdin/stdout the protocol's), `remove` (after it ends;
    docker/podman's `--rm` removes a container whose client was not killed). Each process gets
    a container of its own: the guard puts a fresh name wherever an argument is `CONTAINER`."""
    name = CONTAINER
    if engine == "buildah":
        net = network or "host"
        if net not in BUILDAH_NETWORKS:
            raise ContainerEngineError(
                f"--network {net!r}: image connectors run with buildah here (no Docker engine answers and "
                f"podman cannot start containers), which offers only {' or '.join(BUILDAH_NETWORKS)} "
                "(this machine's network, the default, or none at all)"
            )
        program = config.program
        if not program:
            raise ConnectorError(f"{image}: the image has neither an ENTRYPOINT nor a CMD to run")
        run = ["buildah", "run", "--isolation", os.environ.get("BUILDAH_ISOLATION", "chroot")]
        for key, value in env.items():
            run += ["--env", f"{key}={value}"]
        for mount in mounts:
            run += ["--volume", f"{mount}:{mount}"]
        run += [name, "--", *program]
        if net == "none":
            if shutil.which("unshare") is None:
                raise ContainerEngineError("--network none with buildah needs `unshare` (util-linux)")
            run = ["unshare", "--net", *run]
        return {
            "engine": engine,
            "create": ["buildah", "from", "--pull=false", "--name", name, image],
            "run": run,
            "remove": ["buildah", "rm", name],
            "remove_always": True,
        }
    run = [engine, "run", "-i", "--rm", "--name", name, f"--network={network or 'bridge'}"]
    run += [f"--env={key}={value}" for key, value in env.items()]
    run += [f"--volume={mount}:{mount}" for mount in mounts]
    run.append(image)
    return {
        "engine": engine,
        "create": None,
        "run": run,
        "remove": [engine, "rm", "--force", name],
        "remove_always": False,
    }


def guard_argv(spec: dict[str, Any]) -> list[str]:
    """The command that starts the guard of one connector process (flowctl's own Python)."""
    # -P: the catalog's directory (the guard's cwd) must not shadow flowctl's modules
    return [sys.executable, "-P", "-m", "flowctl.container_guard", json.dumps(spec)]
