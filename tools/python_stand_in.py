"""Make sure the Python image the Dockerfiles start FROM is present for the container engine.

base-image/Dockerfile and python/Dockerfile start FROM PYTHON_IMAGE (python:3.11-slim-...). When
the engine already has it, nothing happens; else it is pulled. Where it cannot be pulled (a
machine with no registry), this builds a stand-in under the same tag from Debian's packages, so
that everything after it is the real Dockerfile path:

1. debootstrap a minimal Debian whose python3.X is the same Python line as the tag (Python 3.11
   is Debian bookworm's python3.11), with the venv module the builder stage uses;
2. trim it as Docker's slim images are trimmed (no documentation, manuals, locales or apt
   caches, and a dpkg configuration that keeps later installs as slim), drop what debootstrap
   copies from this machine (resolv.conf, hostname), link `python`/`python3` in /usr/local/bin,
   where the registry image has them, and list the release's updates and security updates for
   apt, as Debian's images do;
3. build base-image/python-stand-in.Dockerfile on that root filesystem.

The stand-in is labelled with its Debian release and a digest of its recipe. It is reused while
the recipe is unchanged (it holds only Debian's signed packages, nothing of this machine, so
keeping it between runs is safe) and rebuilt when the recipe changes. Every run that uses it says
so: images built on it are for local use; push images built on the registry's own Python image.

    python3 tools/python_stand_in.py [--engine docker|podman|buildah] [--rebuild]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from container_engine import ROOT, Engine, EngineError, detect

STAND_IN_DOCKERFILE = ROOT / "base-image" / "python-stand-in.Dockerfile"
STAND_IN_LABEL = "dev.flow-connectors.python-stand-in"
RECIPE_LABEL = f"{STAND_IN_LABEL}.recipe"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_SECURITY_MIRROR = os.environ.get("DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
LOCK_FILE = Path(tempfile.gettempdir()) / "flow-connectors-python-stand-in.lock"

# The Debian release whose python3.X is each Python line, and what its venv module needs that
# debootstrap cannot resolve by itself (python3.11-venv depends on the virtual python3.11-distutils).
DEBIAN_PYTHON: dict[str, tuple[str, tuple[str, ...]]] = {
    "3.11": ("bookworm", ("python3-distutils",)),
}
# What the registry's slim Python images carry besides Python: certificates, netbase, time zones.
COMMON_PACKAGES = ("ca-certificates", "netbase", "tzdata")
# Docker's slim Debian images exclude these from every package (dpkg path-exclude), keeping
# copyright notices; the stand-in does the same, now and for what is installed on it later.
SLIM_EXCLUDES = (
    "path-exclude /usr/share/doc/*",
    "path-include /usr/share/doc/*/copyright",
    "path-exclude /usr/share/man/*",
    "path-exclude /usr/share/groff/*",
    "path-exclude /usr/share/info/*",
    "path-exclude /usr/share/lintian/*",
    "path-exclude /usr/share/linda/*",
    "path-exclude /usr/share/locale/*",
)
# What Docker's Debian images configure apt with: no package caches kept (they would stay in
# the layer of every `apt-get install`), no translations, compressed indexes.
APT_SLIM = (
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };',
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };',
    'Dir::Cache::pkgcache "";',
    'Dir::Cache::srcpkgcache "";',
    'Acquire::Languages "none";',
    'Acquire::GzipIndexes "true";',
)
# Left behind by debootstrap and apt, or copied from this machine: none belongs in an image.
DROPPED = (
    "etc/resolv.conf",
    "etc/hostname",
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*_*",
    "var/log/*.log",
    "var/log/apt/*",
)


class StandInError(Exception):
    """The Python image is missing and no stand-in could be made; the message says why."""


@dataclass(frozen=True)
class Recipe:
    suite: str
    packages: tuple[str, ...]

    @property
    def digest(self) -> str:
        """Changes whenever what goes into the stand-in changes, so a stale one is rebuilt."""
        text = json.dumps(
            {
                "suite": self.suite,
                "packages": self.packages,
                "excludes": SLIM_EXCLUDES,
                "apt": APT_SLIM,
                "sources": ["", "-updates", "-security"],
                "dropped": DROPPED,
                "dockerfile": STAND_IN_DOCKERFILE.read_text(),
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def python_image(dockerfile: Path = ROOT / "base-image" / "Dockerfile") -> str:
    """The default of `ARG PYTHON_IMAGE=` in the base image's Dockerfile."""
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile.read_text(), re.MULTILINE)
    if match is None:
        raise StandInError(f"{dockerfile.relative_to(ROOT)} has no `ARG PYTHON_IMAGE=<image>` line")
    return match.group(1)


def python_line(image: str) -> str:
    """'3.11' for python:3.11-slim-trixie (and docker.io/library/python:3.11...)."""
    match = re.fullmatch(r"(?:.*/)?python:(\d+\.\d+)(?:[.-].*)?", image)
    if match is None:
        raise StandInError(f"cannot tell the Python line of '{image}' (expected python:<major>.<minor>-...)")
    return match.group(1)


def recipe_for(image: str) -> Recipe:
    line = python_line(image)
    if line not in DEBIAN_PYTHON:
        known = ", ".join(f"{v} ({s})" for v, (s, _) in DEBIAN_PYTHON.items())
        raise StandInError(
            f"no stand-in recipe for Python {line} ({image}): Debian ships these Python lines as "
            f"python3.X: {known}"
        )
    suite, extra = DEBIAN_PYTHON[line]
    return Recipe(suite, (f"python{line}", f"python{line}-venv", *extra, *COMMON_PACKAGES))


def qualified(image: str, engine: Engine) -> str:
    """The name podman and buildah resolve a Docker Hub short name to (docker needs none)."""
    if engine.name == "docker":
        return image
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


@contextmanager
def _locked() -> Iterator[None]:
    """One stand-in build at a time on this machine (tests and `make images` may overlap)."""
    with open(LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _debootstrap(recipe: Recipe, rootfs: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise StandInError(
            "debootstrap is not installed (Debian: apt-get install debootstrap); it makes the stand-in"
        )
    if os.geteuid() != 0:
        raise StandInError("debootstrap must run as root to make the stand-in (or pull the image elsewhere)")
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(recipe.packages)}",
        recipe.suite,
        str(rootfs),
        DEBIAN_MIRROR,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        log = rootfs / "debootstrap" / "debootstrap.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else proc.stderr[-2000:]
        raise StandInError(
            f"`{' '.join(argv)}` failed (exit {proc.returncode}):\n{proc.stdout[-1000:]}{detail}"
        )


def _trim(rootfs: Path, line: str) -> None:
    for pattern in DROPPED:
        for path in rootfs.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()
    share = rootfs / "usr" / "share"
    for directory in ("man", "groff", "info", "lintian", "linda", "locale"):
        for child in (share / directory).glob("*"):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    for package in (share / "doc").glob("*"):
        if package.is_dir() and not package.is_symlink():
            for child in package.iterdir():
                if child.name != "copyright":
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    excludes = rootfs / "etc" / "dpkg" / "dpkg.cfg.d" / "slim-image"
    excludes.write_text("# Slim image: as Docker's Debian slim images.\n" + "\n".join(SLIM_EXCLUDES) + "\n")
    apt_conf = rootfs / "etc" / "apt" / "apt.conf.d" / "docker-slim"
    apt_conf.write_text("// Slim image: as Docker's Debian images.\n" + "\n".join(APT_SLIM) + "\n")
    local_bin = rootfs / "usr" / "local" / "bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        link = local_bin / name
        link.unlink(missing_ok=True)
        link.symlink_to(f"/usr/bin/python{line}")


def _apt_sources(rootfs: Path, suite: str) -> None:
    """What the registry's Debian images list: the release, its updates and its security
    updates (debootstrap lists the release alone), so packages installed on the stand-in later,
    as base-image/Dockerfile's are, come with their fixes."""
    (rootfs / "etc" / "apt" / "sources.list").write_text(
        f"deb {DEBIAN_MIRROR} {suite} main\n"
        f"deb {DEBIAN_MIRROR} {suite}-updates main\n"
        f"deb {DEBIAN_SECURITY_MIRROR} {suite}-security main\n"
    )


def _debian_version(rootfs: Path, package: str) -> str:
    """The upstream version of an installed package (3.11.2 for 3.11.2-6+deb12u6)."""
    status = (rootfs / "var" / "lib" / "dpkg" / "status").read_text()
    match = re.search(rf"^Package: {re.escape(package)}\n(?:.+\n)*?Version: (\S+)", status, re.MULTILINE)
    if match is None:
        raise StandInError(f"debootstrap did not install {package}")
    return match.group(1).split("-", 1)[0].split("+", 1)[0]


def build_stand_in(engine: Engine, image: str, recipe: Recipe) -> str:
    """debootstrap, trim, tar and build; returns the Python version inside."""
    line = python_line(image)
    with tempfile.TemporaryDirectory(prefix="python-stand-in-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        _debootstrap(recipe, rootfs)
        _trim(rootfs, line)
        _apt_sources(rootfs, recipe.suite)
        version = _debian_version(rootfs, f"python{line}")
        context = Path(work) / "context"
        context.mkdir()
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(context / "rootfs.tar"), "."],
            check=True,
            capture_output=True,
        )
        shutil.rmtree(rootfs)
        engine.build(
            STAND_IN_DOCKERFILE,
            context,
            qualified(image, engine),
            {"PYTHON_VERSION": version, "DEBIAN_SUITE": recipe.suite, "RECIPE": recipe.digest},
        )
    return version


def ensure(engine: Engine, image: str, rebuild: bool = False) -> str:
    """Make `image` present; returns a one-line account of how (for the caller to print)."""
    recipe = recipe_for(image)
    name = qualified(image, engine)
    with _locked():
        if rebuild:
            why = "rebuilt on request"
        else:
            stale = ""
            if engine.exists(name):
                labels = engine.inspect(name).labels
                if STAND_IN_LABEL not in labels:
                    return f"{image}: present"
                if labels.get(RECIPE_LABEL) == recipe.digest:
                    return (
                        f"{image}: using the local stand-in built from Debian {recipe.suite} packages "
                        "(not the registry's image)"
                    )
                stale = "the local stand-in is of an older recipe, and "
            problem = engine.pull(name)
            if problem is None:
                return f"{image}: pulled" + (" (replacing the local stand-in)" if stale else "")
            why = f"{stale}could not be pulled ({problem})"
        version = build_stand_in(engine, image, recipe)
        return (
            f"{image}: {why}; built a stand-in under the same tag from Debian {recipe.suite} packages "
            f"(python{python_line(image)} {version}): images built on it are for local use"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("docker", "podman", "buildah"), help="default: build-local.sh's")
    parser.add_argument("--image", help="default: PYTHON_IMAGE of base-image/Dockerfile")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the stand-in even if present")
    args = parser.parse_args(argv)
    try:
        engine = Engine(args.engine) if args.engine else detect()
        print(ensure(engine, args.image or python_image(), rebuild=args.rebuild), file=sys.stderr)
        return 0
    except (StandInError, EngineError) as exc:
        print(f"python_stand_in: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
