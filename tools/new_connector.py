"""Create a connector skeleton from tools/templates/source-connector (`make new-connector NAME=...`).

The skeleton follows the guide's layout and passes its own tests once installed:

    make new-connector NAME=source-foo
    cd source-foo && poetry install && poetry run pytest
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "tools" / "templates" / "source-connector"
NAME_PATTERN = re.compile(r"^source-[a-z0-9]+(-[a-z0-9]+)*$")
SUFFIX = ".tmpl"


class ScaffoldError(Exception):
    """A problem with the request (bad or taken name); printed without a traceback."""


def validate_name(name: str, root: Path) -> None:
    if not name:
        raise ScaffoldError("NAME is required: make new-connector NAME=source-foo")
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid connector name '{name}': expected source-<name> with lower-case letters, "
            "digits and single dashes (e.g. source-acme-crm)"
        )
    if (root / name).exists():
        raise ScaffoldError(f"'{name}' already exists in {root}")


def substitutions(name: str) -> dict[str, str]:
    words = name.removeprefix("source-").split("-")
    return {
        "__NAME__": name,
        "__MODULE__": name.replace("-", "_"),
        "__TITLE__": " ".join(w.capitalize() for w in words),
    }


def _render(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def generate(name: str, root: Path = ROOT, template: Path = TEMPLATE) -> list[Path]:
    """Render the template into `root/name`; returns the files written."""
    validate_name(name, root)
    values = substitutions(name)
    target = root / name
    written: list[Path] = []
    for source in sorted(template.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        relative = _render(str(source.relative_to(template)), values).removesuffix(SUFFIX)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(_render(source.read_text(), values))
        written.append(destination)
    return written


def format_python(directory: Path) -> None:
    """Line lengths depend on the connector's name, so the generated code is formatted with the
    repository's ruff settings (when ruff is installed: `make tools`)."""
    ruff = Path(sys.executable).parent / "ruff"
    command = str(ruff) if ruff.exists() else shutil.which("ruff")
    if command:
        subprocess.run([command, "format", "--quiet", str(directory)], cwd=ROOT, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name", nargs="?", default="", help="connector name, e.g. source-foo")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="directory to create it in (default: repo root)"
    )
    args = parser.parse_args(argv)
    try:
        written = generate(args.name, args.root.resolve())
    except ScaffoldError as exc:
        print(f"new-connector: error: {exc}", file=sys.stderr)
        return 2
    target = args.root.resolve() / args.name
    format_python(target)
    print(f"created {target} ({len(written)} files). Next:")
    print(f"  cd {args.name} && poetry install && poetry run pytest")
    if shutil.which("poetry") is None:
        print(f"  (poetry is in {ROOT / '.tools' / 'venv' / 'bin'}: add it to your PATH)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
