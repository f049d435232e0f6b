"""The container engine the image tools drive, and the few engine commands they need.

The engine is the one build-local.sh picks (`./build-local.sh --engine`: docker when a Docker
engine answers, else podman, else buildah, or CONTAINER_ENGINE), so `make images`, the stand-in
for the Python image and the image tests always agree with the script that builds the images.
Each command here is spelled for that engine: the three differ in verbs (`buildah bud`),
inspection formats and how an OCI archive is written.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("docker", "podman", "buildah")


class EngineError(Exception):
    """An engine command failed or is unavailable; the message says which and why."""


@dataclass(frozen=True)
class ImageInfo:
    """What Flow's runtime reads from `docker inspect`, plus the image's id and size."""

    id: str
    size: int  # bytes, uncompressed (buildah: the sum of the image's layer sizes)
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    working_dir: str = ""


def _env_map(pairs: list[str] | None) -> dict[str, str]:
    return dict(pair.partition("=")[::2] for pair in pairs or [])


@dataclass(frozen=True)
class Engine:
    name: str

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise EngineError(
                f"unknown container engine '{self.name}' (expected one of {', '.join(ENGINES)})"
            )

    @property
    def isolation(self) -> str:
        """podman and buildah run build steps chrooted unless BUILDAH_ISOLATION says otherwise:
        it needs no OCI runtime, which some machines (these among them) cannot start."""
        return os.environ.get("BUILDAH_ISOLATION", "chroot")

    def command(
        self, *args: str, timeout: float = 600, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `<engine> args...`, output captured; on failure (when `check`) raise EngineError
        naming the command and quoting the engine's own message."""
        argv = [self.name, *args]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, input=stdin, check=False
            )
        except FileNotFoundError:
            raise EngineError(f"'{self.name}' is not installed") from None
        except subprocess.TimeoutExpired:
            raise EngineError(f"`{' '.join(argv)}` did not finish within {timeout:g}s") from None
        if check and proc.returncode != 0:
            raise EngineError(
                f"`{' '.join(argv)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )
        return proc

    def exists(self, image: str) -> bool:
        if self.name == "buildah":
            args = ["inspect", "--type", "image", image]
        else:
            args = ["image", "inspect", image]
        return self.command(*args, check=False, timeout=60).returncode == 0

    def pull_argv(self, image: str) -> list[str]:
        """`pull` arguments that ask the registry even when the image is present (buildah's
        default policy takes a local image as pulled)."""
        return ["pull", "--policy", "always", image] if self.name == "buildah" else ["pull", image]

    def pull(self, image: str, timeout: float = 300) -> str | None:
        """Pull `image` from its registry; None when it worked, else the engine's reason."""
        try:
            proc = self.command(*self.pull_argv(image), check=False, timeout=timeout)
        except EngineError as exc:
            return str(exc)
        if proc.returncode == 0:
            return None
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit {proc.returncode}"

    def build_argv(self, dockerfile: Path, context: Path, tag: str, build_args: dict[str, str]) -> list[str]:
        """`build` arguments for an image with no RUN downloads (the Python stand-in)."""
        args = [arg for name, value in build_args.items() for arg in ("--build-arg", f"{name}={value}")]
        if self.name == "docker":
            return ["build", "-f", str(dockerfile), "-t", tag, *args, str(context)]
        verb = "bud" if self.name == "buildah" else "build"
        return [
            verb,
            "--format",
            "docker",
            "--pull=false",
            "--isolation",
            self.isolation,
            "-f",
            str(dockerfile),
            "-t",
            tag,
            *args,
            str(context),
        ]

    def build(self, dockerfile: Path, context: Path, tag: str, build_args: dict[str, str]) -> None:
        self.command(*self.build_argv(dockerfile, context, tag, build_args), timeout=1800)

    def inspect(self, image: str) -> ImageInfo:
        if self.name == "buildah":
            data = json.loads(self.command("inspect", "--type", "image", image, timeout=60).stdout)
            config = (data.get("Docker") or {}).get("config") or data["OCIv1"].get("config") or {}
            manifest = json.loads(data.get("Manifest") or "{}")
            size = sum(int(layer.get("size", 0)) for layer in manifest.get("layers", []))
            image_id = data["FromImageID"]
        else:
            data = json.loads(self.command("image", "inspect", image, timeout=60).stdout)[0]
            config = data.get("Config") or {}
            size = int(data.get("Size") or 0)
            image_id = data["Id"]
        return ImageInfo(
            id=image_id.removeprefix("sha256:"),
            size=size,
            labels=dict(config.get("Labels") or {}),
            env=_env_map(config.get("Env")),
            user=config.get("User") or "",
            entrypoint=list(config.get("Entrypoint") or []),
            cmd=list(config.get("Cmd") or []),
            working_dir=config.get("WorkingDir") or "",
        )

    def save_oci(self, image: str, path: Path) -> None:
        """Write `image` as an OCI archive (a tar an OCI registry client can push)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        if self.name == "buildah":
            self.command("push", image, f"oci-archive:{path}:{image}", timeout=1800)
        elif self.name == "podman":
            self.command("save", "--format", "oci-archive", "-o", str(path), image, timeout=1800)
        else:
            # Docker 25 and newer write an OCI image layout in `docker save`'s archive.
            self.command("save", "-o", str(path), image, timeout=1800)

    def remove(self, image: str) -> None:
        self.command("rmi", image, check=False, timeout=120)


def detect(root: Path = ROOT) -> Engine:
    """The engine build-local.sh would build with; EngineError with its message when none."""
    proc = subprocess.run(
        ["bash", str(root / "build-local.sh"), "--engine"], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        raise EngineError(proc.stderr.strip().removeprefix("build-local.sh: error: "))
    return Engine(proc.stdout.strip())
