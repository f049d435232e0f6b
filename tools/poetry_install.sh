#!/usr/bin/env bash
# `poetry install` one package into its in-project .venv (used by `make install` and `make demo`).
# A lock file that no longer matches its pyproject.toml is refreshed first, so a fresh clone
# never stops on "pyproject.toml changed significantly since poetry.lock was last generated".
set -euo pipefail

pkg="${1:?usage: poetry_install.sh <package-dir>}"
if [ ! -f "$pkg/pyproject.toml" ]; then
    echo "poetry_install.sh: $pkg has no pyproject.toml" >&2
    exit 2
fi
cd "$pkg"
export POETRY_VIRTUALENVS_IN_PROJECT=true POETRY_NO_INTERACTION=1

if [ -f poetry.lock ] && ! poetry check --lock >/dev/null 2>&1; then
    echo "warning: $(basename "$pkg")/poetry.lock does not match pyproject.toml; running poetry lock" >&2
    poetry lock
fi
echo "==> poetry install: $(basename "$pkg")"
poetry install --no-interaction
