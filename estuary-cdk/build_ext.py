"""Builds the kit's optional C accelerators in place (poetry-core runs this on install).

The kit works without them: each accelerated module falls back to its Python reference
implementation. So a machine without a C compiler or Python headers still installs the kit;
this script then says what it could not build and why, and exits 0.
"""

from __future__ import annotations

import sys

EXTENSIONS = {"estuary_cdk.materialize._packed_c": ["estuary_cdk/materialize/_packed_c.c"]}


def build() -> None:
    try:
        from setuptools import Distribution, Extension
        from setuptools.command.build_ext import build_ext
    except ImportError as exc:
        print(f"estuary-cdk: C accelerators not built (setuptools missing: {exc})", file=sys.stderr)
        return
    extensions = [
        Extension(name, sources, extra_compile_args=["-O2"]) for name, sources in EXTENSIONS.items()
    ]
    command = build_ext(Distribution({"name": "estuary-cdk", "ext_modules": extensions}))
    command.inplace = True
    try:
        command.ensure_finalized()
        command.run()
    except Exception as exc:  # no compiler, no headers: the Python fallbacks serve
        print(
            f"estuary-cdk: C accelerators not built, the Python implementations are used ({exc})",
            file=sys.stderr,
        )


if __name__ == "__main__":
    build()
