"""Where a package's virtualenv is: its in-project `.venv` (what `poetry.toml` and
`make install` ask for), else wherever Poetry put it (`poetry env info --path`: its cache, when
someone ran `poetry install` in the package before it had a `poetry.toml`).

    python tools/venvs.py source-foo      # prints the path; exit 1 (and why) when there is none
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = ROOT / ".tools" / "venv" / "bin"


def _poetry() -> str | None:
    local = TOOLS_BIN / "poetry"
    return str(local) if local.exists() else shutil.which("poetry")


def find_venv(package_dir: Path) -> Path | None:
    """The virtualenv of the Poetry project in `package_dir`, or None when it has none yet."""
    in_project = package_dir / ".venv"
    if (in_project / "bin" / "python").exists():
        return in_project
    poetry = _poetry()
    if poetry is None or not (package_dir / "pyproject.toml").exists():
        return None
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}  # not the caller's venv
    try:
        proc = subprocess.run(
            [poetry, "env", "info", "--path"],
            cwd=package_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None
    return path if path is not None and (path / "bin" / "python").exists() else None


def venv_bin(package_dir: Path) -> Path:
    """bin/ of the package's virtualenv; SystemExit with the fix when there is none."""
    venv = find_venv(package_dir)
    if venv is None:
        raise SystemExit(
            f"{package_dir.name} has no virtualenv: run `make install` (or `poetry install` in {package_dir})"
        )
    return venv / "bin"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: venvs.py <package-dir>", file=sys.stderr)
        return 2
    package = Path(argv[0])
    venv = find_venv(package if package.is_absolute() else ROOT / package)
    if venv is None:
        print(f"{argv[0]} has no virtualenv: run `make install`", file=sys.stderr)
        return 1
    print(venv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
