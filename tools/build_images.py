"""`make images`: the base image and every connector's image, then their figures.

Every `source-*` and `materialize-*` directory with a pyproject.toml is a connector (found by
wildcard, as the Makefile finds them), and each is built by build-local.sh exactly as a developer
builds one, so this exercises the real path: build-local.sh builds the base image (cached layers
make that quick after the first) and, where the registry's Python image cannot be pulled, has
tools/python_stand_in.py make a stand-in for it, which is said here too. Each build's output goes
to a log file; a failure prints its tail.

Figures, printed for each image: its size (uncompressed) and the time from starting it, as Flow
starts it (tools/image_run.py: a fresh container, the entrypoint, the internal Spec request), to
its `spec` response, the median of a few starts. `--oci-dir DIR` also writes each image as an
OCI archive, DIR/<connector>.oci.tar, to push from a machine with a registry
(`skopeo copy oci-archive:DIR/source-foo.oci.tar docker://ghcr.io/...`).

    python tools/build_images.py [connector ...] [--oci-dir DIR] [--starts N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import python_stand_in
from check_docker_copies import connectors as all_connectors
from container_engine import ROOT, Engine, EngineError, detect
from image_run import ImageRunError, converse

LOG_DIR = Path(tempfile.gettempdir()) / "flow-connectors-images"


def image_tag(connector: str) -> str:
    """The tag build-local.sh gives a connector's image."""
    return f"{os.environ.get('IMAGE_REPO', 'ghcr.io/estuary')}/{connector}:local"


@dataclass
class Build:
    connector: str
    seconds: float
    log: Path
    returncode: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Figures:
    size_mb: float
    protocol: str
    spec_s: float | None  # median start to spec response, container creation included
    note: str = ""


def build(connector: str, log_dir: Path = LOG_DIR, env: dict[str, str] | None = None) -> Build:
    """`./build-local.sh <connector>` (with `env` added to the environment), its output in
    log_dir/<connector>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{connector}.log"
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            ["bash", str(ROOT / "build-local.sh"), connector],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=3600,
            check=False,
        )
    return Build(connector, time.monotonic() - started, log, proc.returncode)


def start_to_spec(engine: Engine, tag: str, starts: int) -> tuple[float | None, str]:
    """Median seconds from starting the image to its spec response, or None and why not.
    Images are started with buildah (tools/image_run.py), which sees what podman and buildah
    built (one image store), not what a Docker engine holds."""
    if engine.name == "docker":
        return None, "start-to-spec is measured for podman and buildah builds"
    if shutil.which("buildah") is None:
        return None, "start-to-spec needs buildah to start images"
    info = Engine("buildah").inspect(tag)
    times = []
    for _ in range(starts):
        session = converse(tag, info, [], network=False, timeout=60)
        session.one("spec")
        assert session.first_response_s is not None
        times.append(session.started_s + session.first_response_s)
    return statistics.median(times), ""


def figures(engine: Engine, tag: str, starts: int) -> Figures:
    info = engine.inspect(tag)
    try:
        spec_s, note = start_to_spec(engine, tag, starts)
    except ImageRunError as exc:
        spec_s, note = None, f"did not answer spec: {exc}"
    return Figures(info.size / 1e6, info.labels.get("FLOW_RUNTIME_PROTOCOL", "(none)"), spec_s, note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "connectors", nargs="*", help="default: every source-*/materialize-* with a pyproject.toml"
    )
    parser.add_argument("--oci-dir", type=Path, help="also write each image as DIR/<connector>.oci.tar")
    parser.add_argument("--starts", type=int, default=3, help="starts per image for the start-to-spec figure")
    args = parser.parse_args(argv)
    names = args.connectors or all_connectors()
    unknown = [n for n in names if not (ROOT / n / "pyproject.toml").is_file()]
    if unknown:
        parser.error(f"not a connector of this repository (no <name>/pyproject.toml): {', '.join(unknown)}")

    started = time.monotonic()
    try:
        engine = detect()
        print(
            f"==> images: {len(names)} connector(s) with {engine.name}; build logs in {LOG_DIR}", flush=True
        )
        print(f"  {python_stand_in.ensure(engine, python_stand_in.python_image())}", flush=True)
    except (EngineError, python_stand_in.StandInError) as exc:
        print(f"make images: error: {exc}", file=sys.stderr)
        return 1

    failed: list[str] = []
    rows: list[tuple[str, Build, Figures | None]] = []
    for name in names:
        result = build(name)
        print(f"  {name}: {'built' if result.ok else 'FAILED'} in {result.seconds:.1f}s", flush=True)
        if not result.ok:
            failed.append(name)
            print(f"--- last lines of {result.log}:\n{result.tail()}\n---", flush=True)
            rows.append((name, result, None))
            continue
        tag = image_tag(name)
        try:
            rows.append((name, result, figures(engine, tag, args.starts)))
            if args.oci_dir:
                archive = args.oci_dir / f"{name}.oci.tar"
                engine.save_oci(tag, archive)
                print(f"  {name}: OCI archive {archive} ({archive.stat().st_size / 1e6:.0f} MB)", flush=True)
        except EngineError as exc:
            failed.append(name)
            print(f"  {name}: FAILED: {exc}", flush=True)

    print("\n==> image figures (size uncompressed; start to spec: fresh container, median)")
    print(f"  {'image':<48} {'protocol':<12} {'size':>8} {'start→spec':>11} {'build':>8}")
    for name, result, fig in rows:
        if fig is None:
            continue
        spec = f"{fig.spec_s:.2f} s" if fig.spec_s is not None else "-"
        line = f"  {image_tag(name):<48} {fig.protocol:<12} {fig.size_mb:>5.0f} MB {spec:>11} {result.seconds:>6.1f} s"
        print(line + (f"  ({fig.note})" if fig.note else ""))
    status = f"{len(names) - len(failed)} of {len(names)} built"
    print(
        f"make images: {status} in {time.monotonic() - started:.1f}s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
