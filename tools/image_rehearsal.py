"""Rehearse a connector image build without a Docker engine.

Runs the real instructions of python/Dockerfile (or the connector's own Dockerfile) on this
machine, with `/opt` mapped into a scratch directory: ARG/ENV set the environment, WORKDIR the
working directory, context COPY instructions copy from the repository (honouring the usual
.dockerignore exclusions), RUN instructions run under bash with pipefail (without their
`--mount` flags: no build secret is given, this machine's own trust store applies; `apt-get`
steps are left out: this machine's OS stands in for the image's), `COPY --from=<stage>`
checks that the stage produced what is copied. Finally the image's ENTRYPOINT is started and must
answer a `spec` request. What it cannot rehearse is the base image itself (the interpreter comes
from this machine), so it proves the recipe, not the packages of the base.

    python tools/image_rehearsal.py source-hello-world [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from check_docker_copies import ROOT, Instruction, dockerfile_for, parse_dockerfile
from check_docker_copies import _expand as _expand  # Docker's ${VAR} substitution

_IGNORED = shutil.ignore_patterns(
    ".venv", "__pycache__", "*.pyc", "*.so", ".pytest_cache", ".mypy_cache", ".ruff_cache"
)


# `RUN --mount=type=secret,...`: the flags are BuildKit's. Here no secret is mounted, so the
# step sees what this machine's own environment trusts (as its other commands do).
_RUN_FLAGS = re.compile(r"^(?:--\S+\s+)+")
# A RUN that installs the image OS's packages (`apt-get ...`) is not run here: it would change
# this machine's system. What it installs (a C compiler, Python headers) is this machine's part.
_SYSTEM_PACKAGES = re.compile(r"^apt-get\s")


class RehearsalError(Exception):
    """An instruction failed; the message names the Dockerfile line."""


class Rehearsal:
    def __init__(self, dockerfile: str, connector: str, scratch: Path, build_args: dict[str, str]) -> None:
        self.dockerfile = dockerfile
        self.connector = connector
        self.scratch = scratch
        self.build_args = build_args
        self.env: dict[str, str] = {}
        self.cwd = scratch
        self.entrypoint: list[str] | None = None

    def host(self, path: str) -> str:
        """Map an absolute image path to the scratch directory."""
        return str(self.scratch) + path if path.startswith("/") else path

    def rewrite(self, text: str) -> str:
        return text.replace("/opt/", f"{self.scratch}/opt/").replace("/opt ", f"{self.scratch}/opt ")

    def fail(self, ins: Instruction, message: str) -> RehearsalError:
        return RehearsalError(f"{self.dockerfile}:{ins.line}: {ins.keyword} {ins.args[:80]}: {message}")

    def run(self) -> None:
        instructions = parse_dockerfile((ROOT / self.dockerfile).read_text())
        global_args: dict[str, str] = {}
        stage = -1
        for ins in instructions:
            if ins.keyword == "FROM":
                stage += 1
                # A new stage starts with the process environment plus global ARGs.
                self.env = {**os.environ, **global_args}
                self.env.pop("VIRTUAL_ENV", None)
                self.cwd = self.scratch
                continue
            if ins.keyword == "ARG":
                name, _, default = ins.args.partition("=")
                value = self.build_args.get(name, _expand(default.strip('"'), self.env))
                (global_args if stage < 0 else self.env)[name] = value
            elif ins.keyword == "ENV":
                for word in shlex.split(ins.args):
                    key, _, value = word.partition("=")
                    self.env[key] = self.rewrite(_expand(value, self.env))
            elif ins.keyword == "WORKDIR":
                self.cwd = Path(self.host(_expand(ins.args, self.env)))
                self.cwd.mkdir(parents=True, exist_ok=True)
            elif ins.keyword in ("COPY", "ADD"):
                self.copy(ins)
            elif ins.keyword == "RUN" and _SYSTEM_PACKAGES.match(_RUN_FLAGS.sub("", ins.args)):
                continue  # the image's own OS packages: this machine's OS stands in for them
            elif ins.keyword == "RUN":
                proc = subprocess.run(
                    ["bash", "-o", "pipefail", "-c", self.rewrite(_RUN_FLAGS.sub("", ins.args))],
                    cwd=self.cwd,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if proc.returncode != 0:
                    raise self.fail(
                        ins, f"exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
                    )
            elif ins.keyword == "ENTRYPOINT":
                self.entrypoint = [self.host(part) for part in json.loads(ins.args)]

    def copy(self, ins: Instruction) -> None:
        words = shlex.split(ins.args)
        from_stage = any(w.startswith("--from") for w in words)
        paths = [_expand(w, self.env) for w in words if not w.startswith("--")]
        *sources, destination = paths
        for source in sources:
            if from_stage:
                # Stages share the scratch filesystem here: what is copied must exist.
                if not Path(self.host(source)).exists():
                    raise self.fail(ins, f"the earlier stage did not produce {source}")
                continue
            src = ROOT / source
            if not src.exists():
                raise self.fail(ins, f"{source} is not in the build context")
            target = Path(self.host(destination))
            if destination.endswith("/") or len(sources) > 1:
                target.mkdir(parents=True, exist_ok=True)
                target = target / src.name
            if src.is_dir():
                shutil.copytree(src, target, ignore=_IGNORED, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)

    def serve_spec(self) -> dict:
        if not self.entrypoint:
            raise RehearsalError(f"{self.dockerfile} has no ENTRYPOINT")
        env = {k: v for k, v in self.env.items() if k != "PYTHONPATH"}
        proc = subprocess.run(
            self.entrypoint,
            input='{"spec":{"connectorType":"IMAGE"}}\n',
            capture_output=True,
            text=True,
            cwd=self.scratch,  # not the connector's source tree: imports must come from the venv
            env=env,
            timeout=120,
            check=False,
        )
        for line in proc.stdout.splitlines():
            message = json.loads(line)
            if "spec" in message:
                return message["spec"]
        raise RehearsalError(
            f"the entrypoint did not answer spec (exit {proc.returncode}): {proc.stderr[-2000:]}"
        )


def rehearse(connector: str, scratch: Path) -> dict:
    """Rehearse the build of `connector` in `scratch`; returns the image's spec response."""
    build_args = {
        "CONNECTOR_NAME": connector,
        "CONNECTOR_TYPE": "materialize" if connector.startswith("materialize-") else "capture",
        "USAGE_RATE": "1.0",
    }
    rehearsal = Rehearsal(dockerfile_for(connector), connector, scratch, build_args)
    rehearsal.run()
    return rehearsal.serve_spec()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("connector")
    parser.add_argument("--keep", type=Path, help="scratch directory to use and keep")
    args = parser.parse_args()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="image-rehearsal-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        spec = rehearse(args.connector, scratch.resolve())
        print(
            f"{args.connector}: image recipe ok; entrypoint answered spec (protocol {spec.get('protocol')})"
        )
        return 0
    except RehearsalError as exc:
        print(f"{args.connector}: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
