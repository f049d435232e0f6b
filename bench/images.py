"""Benchmark: the connector images' figures next to their targets (issue 13).
# bench-venv: estuary-cdk

Builds every connector's image through `tools/build_images.py` (the same path as `make images`:
build-local.sh with the machine's engine, cached layers, a stand-in for the registry's Python
image where it cannot be pulled) and prints, per image, its uncompressed size and the median time
from starting it as Flow does (a fresh container, the entrypoint, the internal Spec request) to its
`spec` response, then each against its target: runner images <= 250 MB, start to spec < 1.5 s.
Needs a container engine; says so and exits 0 without one (there is nothing to measure).

    python bench/images.py [connector ...] [--starts 5]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

SIZE_TARGET_MB = 250
SPEC_TARGET_S = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("connectors", nargs="*")
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 starts per image")
    args = parser.parse_args()
    if not any(shutil.which(e) for e in ("docker", "podman", "buildah")):
        print("images: no container engine (docker, podman or buildah) on this machine: nothing to measure")
        return 0

    import build_images
    from check_docker_copies import connectors as all_connectors
    from container_engine import detect

    engine = detect()
    names = args.connectors or all_connectors()
    starts = 3 if args.quick else args.starts
    print(f"images: {len(names)} connector image(s) with {engine.name}, {starts} starts each")
    failed = 0
    for name in names:
        built = build_images.build(name)
        if not built.ok:
            print(f"  {name}: build FAILED (log {built.log})")
            failed += 1
            continue
        fig = build_images.figures(engine, build_images.image_tag(name), starts)
        size_ok = "ok" if fig.size_mb <= SIZE_TARGET_MB else "OVER"
        spec = f"{fig.spec_s:.2f} s" if fig.spec_s is not None else f"- ({fig.note})"
        spec_ok = "" if fig.spec_s is None else ("ok" if fig.spec_s < SPEC_TARGET_S else "OVER")
        print(
            f"  {name:<24} {fig.size_mb:6.0f} MB (target <= {SIZE_TARGET_MB} MB: {size_ok})   "
            f"start to spec {spec} (target < {SPEC_TARGET_S} s: {spec_ok})   build {built.seconds:.1f} s"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
