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

# Poetry reuses a virtualenv it once made in its cache (a `poetry install` run before the package
# had its poetry.toml) even when asked for an in-project one; an existing .venv wins, so make one.
if [ ! -x .venv/bin/python ]; then
    elsewhere="$(env -u VIRTUAL_ENV poetry env info --path 2>/dev/null || true)"
    if [ -n "$elsewhere" ] && [ "$elsewhere" != "$PWD/.venv" ]; then
        echo "note: $(basename "$pkg") had its virtualenv in $elsewhere (Poetry's cache); creating the in-project .venv the repository's tools use (the cached one can be deleted)" >&2
    fi
    "${PYTHON:-python3}" -m venv .venv
fi

if [ -f poetry.lock ] && ! poetry check --lock >/dev/null 2>&1; then
    echo "warning: $(basename "$pkg")/poetry.lock does not match pyproject.toml; running poetry lock" >&2
    poetry lock
fi
echo "==> poetry install: $(basename "$pkg")"
poetry install --no-interaction
