"""`flowctl crash-test` runs estuary-cdk's crash/resume harness in the connector's Python. flowctl
does not depend on the kit, so these tests put a stand-in harness module on that Python's path
and check what flowctl hands it; the harness itself is tested in estuary-cdk and used by the
connectors' suites."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .conftest import MakeCatalog, run_flowctl

STAND_IN = """
import json, os, sys
with open(os.environ["RECORD_ARGV"], "w") as f:
    json.dump(sys.argv[1:], f)
print("crash/resume (preview): 3 kills over 4 runs, 3 survived; 0 documents lost")
sys.exit(int(os.environ.get("HARNESS_EXIT", "0")))
"""


def _stand_in(root: Path) -> Path:
    package = root / "estuary_cdk" / "testing"
    package.mkdir(parents=True)
    (root / "estuary_cdk" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "crash_resume.py").write_text(STAND_IN)
    return root


def test_the_harness_runs_in_the_connectors_python_with_the_options(
    make_catalog: MakeCatalog, tmp_path: Path
) -> None:
    cat = make_catalog()
    record = tmp_path / "argv.json"
    env = {"PYTHONPATH": str(_stand_in(tmp_path / "kit")), "RECORD_ARGV": str(record)}
    args = [
        "--kills",
        "3",
        "--seed",
        "9",
        "--target",
        "preview",
        "--caught-up-idle",
        "1500ms",
        "--timeout",
        "1m",
    ]
    res = run_flowctl("crash-test", "--source", str(cat.path), *args, "--json", env=env)
    assert res.code == 0, res.stderr
    assert "3 survived; 0 documents lost" in res.stdout
    argv = json.loads(record.read_text())
    options = dict(zip(argv[::2], argv[1::2], strict=False))
    assert options["--source"] == str(cat.path.resolve()) and options["--name"] == "acmeCo/source-fake"
    assert (options["--kills"], options["--seed"], options["--target"]) == ("3", "9", "preview")
    assert (options["--idle"], options["--max-seconds"]) == ("1.5", "60")
    assert json.loads(options["--flowctl"]) == [sys.executable, "-m", "flowctl"]
    assert argv[-1] == "--json"

    failed = run_flowctl("crash-test", "--source", str(cat.path), env={**env, "HARNESS_EXIT": "1"})
    assert failed.code == 1  # something was lost: the harness's status is flowctl's


def test_a_python_without_the_kit_is_a_clear_error(make_catalog: MakeCatalog) -> None:
    res = run_flowctl("crash-test", "--source", str(make_catalog().path))
    assert res.code == 1
    assert "crash-test runs estuary-cdk's crash/resume harness" in res.stderr
    assert f"({sys.executable}), which cannot import it" in res.stderr
    assert "poetry run flowctl crash-test" in res.stderr


def test_an_image_capture_is_refused(make_catalog: MakeCatalog) -> None:
    cat = make_catalog()
    text = cat.path.read_text()
    start = text.index("    endpoint:\n")
    end = text.index("    bindings:\n")
    cat.path.write_text(
        text[:start] + "    endpoint:\n      connector: {image: ghcr.io/x/y:v1, config: {}}\n" + text[end:]
    )
    res = run_flowctl("crash-test", "--source", str(cat.path))
    assert res.code == 2 and "has an image endpoint" in res.stderr
