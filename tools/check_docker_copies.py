"""Check, without a Docker engine, that each connector's image would copy what it needs.

For every `source-*`/`materialize-*` directory with a pyproject.toml this resolves the Dockerfile
build-local.sh would use (the connector's own, else python/Dockerfile), expands the build args
build-local.sh passes, and reads the context-side sources of its COPY/ADD instructions. It then
checks that every source exists in the build context (the repository root) and that the image
receives what the connector needs at build and run time: pyproject.toml, poetry.lock, the package
with its `__main__.py` (the entrypoint is `python -m <package>`), and every path dependency.
"""

from __future__ import annotations

import glob
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DOCKERFILE = "python/Dockerfile"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1])
            continue
        buffer.append(stripped)
        joined = " ".join(part.strip() for part in buffer)
        buffer = []
        keyword, _, args = joined.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    return instructions


def _expand(value: str, variables: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2) or ""
        return variables.get(name, default)

    return _VAR.sub(sub, value)


def copy_sources(dockerfile: Path, build_args: dict[str, str]) -> list[tuple[str, int]]:
    """Context-side sources of COPY/ADD instructions (not `--from=` stage copies), expanded."""
    variables: dict[str, str] = {}
    sources: list[tuple[str, int]] = []
    for ins in parse_dockerfile(dockerfile.read_text()):
        if ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            name = name.strip()
            variables[name] = build_args.get(name, _expand(default.strip().strip('"'), variables))
        elif ins.keyword == "ENV":
            continue
        elif ins.keyword in ("COPY", "ADD"):
            if ins.args.startswith("["):
                continue  # JSON form is not used in this repository
            words = shlex.split(ins.args)
            if any(w.startswith("--from") for w in words):
                continue
            paths = [w for w in words if not w.startswith("--")]
            for src in paths[:-1]:
                sources.append((_expand(src, variables), ins.line))
    return sources


def dockerfile_for(connector: str) -> str:
    own = ROOT / connector / "Dockerfile"
    return f"{connector}/Dockerfile" if own.is_file() else DEFAULT_DOCKERFILE


def _path_dependencies(pyproject: Path) -> list[str]:
    """Path dependencies of the main group: the image installs `--only main`, so dev-only
    ones (such as ../flowctl) are neither installed nor needed."""
    data = tomllib.loads(pyproject.read_text())
    deps = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    return [spec["path"] for spec in deps.values() if isinstance(spec, dict) and "path" in spec]


def required_paths(connector: str) -> list[str]:
    """Context-relative paths the image build and entrypoint need for this connector."""
    module = connector.replace("-", "_")
    needed = [f"{connector}/pyproject.toml", f"{connector}/poetry.lock", f"{connector}/{module}/__main__.py"]
    base = ROOT / connector
    for rel in _path_dependencies(base / "pyproject.toml"):
        resolved = (base / rel).resolve()
        try:
            needed.append(str(resolved.relative_to(ROOT)))
        except ValueError:
            needed.append(str(resolved))
    return needed


def _covers(source: str, target: str) -> bool:
    source = source.rstrip("/")
    if source in (".", ""):
        return True
    if any(ch in source for ch in "*?["):
        return any(target == m or target.startswith(m + "/") for m in glob.glob(source, root_dir=ROOT))
    return target == source or target.startswith(source + "/")


def check_connector(connector: str) -> list[str]:
    """Problems found for one connector (empty when its image would get everything it needs)."""
    problems: list[str] = []
    dockerfile = dockerfile_for(connector)
    build_args = {
        "CONNECTOR_NAME": connector,
        "CONNECTOR_TYPE": "materialize" if connector.startswith("materialize-") else "capture",
        "USAGE_RATE": "1.0",
    }
    sources = copy_sources(ROOT / dockerfile, build_args)
    for src, line in sources:
        if any(ch in src for ch in "*?["):
            if not glob.glob(src, root_dir=ROOT):
                problems.append(
                    f"{dockerfile}:{line}: COPY source '{src}' matches nothing in the build context"
                )
        elif not (ROOT / src).exists():
            problems.append(f"{dockerfile}:{line}: COPY source '{src}' does not exist in the build context")
    for needed in required_paths(connector):
        if not (ROOT / needed).exists():
            problems.append(f"{connector}: needs '{needed}', which does not exist")
        elif not any(_covers(src, needed) for src, _ in sources):
            problems.append(f"{connector}: {dockerfile} never copies '{needed}' into the image")
    return problems


def connectors() -> list[str]:
    found = [p.parent.name for p in ROOT.glob("source-*/pyproject.toml")]
    found += [p.parent.name for p in ROOT.glob("materialize-*/pyproject.toml")]
    return sorted(found)


def main(argv: list[str]) -> int:
    names = argv or connectors()
    failures = 0
    for name in names:
        problems = check_connector(name)
        failures += bool(problems)
        status = "ok" if not problems else "FAILED"
        print(f"{name}: {status} ({dockerfile_for(name)})")
        for problem in problems:
            print(f"  - {problem}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
