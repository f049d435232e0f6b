"""flowctl runs connectors from their real images, as Flow runs them, and they behave as their
local commands do.

A catalog whose endpoint is `connector: {image: ...}` is previewed (`flowctl preview`, with
`--fixture` for a materialization), driven through `raw spec|discover|validate|apply` and run
as a pipeline (`flowctl run`) with the images `make images` builds (here under this checkout's
own tags, as tests/test_images.py builds them). Each run's output is compared with the same
catalog's `endpoint.local` command run. source-hello-world runs with no network at all;
materialize-sqlite writes its database file into the catalog's directory, which flowctl mounts
at the same path in the container. A flowctl killed with SIGKILL takes its image connector and
container along.

Needs buildah, which runs images on these machines (`.ci/run` installs it); without it these
tests are skipped with the reason. CONTAINER_ENGINE=buildah: the images are in buildah's store,
which a Docker engine, if one answered, would not see.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

if shutil.which("buildah") is None:
    pytest.skip(
        "image previews need buildah to run images (Debian: apt-get install buildah; .ci/run installs it)",
        allow_module_level=True,
    )

import build_images
from test_images import BUILD_ENV, tag
from venvs import find_venv

HELLO = "source-hello-world"
SQLITE = "materialize-sqlite"
HELLO_CONFIG = {"greeting": "Hello", "name": "world", "rate": 50, "count": 12, "history": 4, "page_size": 4}
SQLITE_BINDINGS = [
    {"resource": {"table": "simple"}, "source": "tests/simple"},
    {"resource": {"table": "simple_delta", "delta_updates": True}, "source": "tests/simple"},
    {"resource": {"table": "Not Simple"}, "source": "tests/not-simple"},
    {"resource": {"table": "data_types"}, "source": "tests/data-types"},
]
FIXTURE = ROOT / SQLITE / "tests" / "catalog" / "fixture.materialize.json"
IMAGE_USER = 65532  # the images' nonroot user (base-image/Dockerfile)


def _venv_python(package: str) -> str:
    venv = find_venv(ROOT / package)
    if venv is None:
        pytest.fail(f"{package} has no virtualenv: run `make install` first")
    return str(venv / "bin" / "python")


FLOWCTL = str(Path(_venv_python("flowctl")).parent / "flowctl")


@pytest.fixture(scope="module")
def built() -> None:
    """The two images, built as `make images` builds them (cached layers make this quick)."""
    for connector in (HELLO, SQLITE):
        result = build_images.build(connector, env=BUILD_ENV)
        if not result.ok:
            pytest.fail(f"./build-local.sh {connector} failed; last lines of {result.log}:\n{result.tail()}")


def _endpoint(package: str, config: dict[str, Any], image: bool) -> dict[str, Any]:
    if image:
        return {"connector": {"image": tag(package), "config": config}}
    module = package.replace("-", "_")
    return {"local": {"command": [_venv_python(package), "-m", module], "config": config}}


def _catalog(directory: Path, image: bool, db: Path | None = None) -> Path:
    """A catalog of hello-world's capture and (with `db`) a SQLite materialization of the fixture's
    collections, both run from images or both as local commands."""
    directory.mkdir(parents=True, exist_ok=True)
    imports = [str(ROOT / HELLO / "acmeCo" / "flow.yaml")]
    doc: dict[str, Any] = {
        "captures": {
            "acmeCo/source-hello-world": {
                "endpoint": _endpoint(HELLO, HELLO_CONFIG, image),
                "bindings": [
                    {"resource": {"name": "greetings", "interval": "PT0S"}, "target": "acmeCo/greetings"},
                    {"resource": {"name": "languages", "interval": "PT1H"}, "target": "acmeCo/languages"},
                ],
            }
        },
    }
    if db is not None:
        imports.append(str(ROOT / SQLITE / "tests" / "catalog" / "collections.flow.yaml"))
        doc["materializations"] = {
            "tests/to-sqlite": {
                "endpoint": _endpoint(SQLITE, {"path": str(db), "hardDelete": True}, image),
                "bindings": SQLITE_BINDINGS,
            },
            "acmeCo/greetings-to-sqlite": {
                "endpoint": _endpoint(SQLITE, {"path": str(db.with_suffix(".run.db"))}, image),
                "bindings": [
                    {"resource": {"table": "greetings"}, "source": "acmeCo/greetings"},
                    {"resource": {"table": "languages"}, "source": "acmeCo/languages"},
                ],
            },
        }
    path = directory / "flow.yaml"
    path.write_text(yaml.safe_dump({"import": imports, **doc}, sort_keys=False))
    return path


def flowctl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLOWCTL, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CONTAINER_ENGINE": "buildah"},
        check=False,
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"flowctl {' '.join(proc.args[1:])} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def _writable_by_the_image_user(*directories: Path) -> None:
    """The connector runs as the image's user: the mounted directory must let it in, and the
    database's directory let it write."""
    directories[0].chmod(0o755)
    for directory in directories[1:]:
        directory.mkdir(exist_ok=True)
        directory.chmod(0o777)


def test_hello_world_image_previews_like_its_local_command_without_network(
    built: None, tmp_path: Path
) -> None:
    args = ("--network", "none", "--until-caught-up", "--caught-up-idle", "2s", "--output-state")
    image = _ok(flowctl("preview", "--source", str(_catalog(tmp_path / "image", image=True)), *args))
    local = _ok(flowctl("preview", "--source", str(_catalog(tmp_path / "local", image=False)), *args))
    documents = [line for line in image.splitlines() if not line.startswith('["connectorState"')]
    assert len(documents) == HELLO_CONFIG["count"] + 8  # greetings, and the table of 8 languages
    assert documents == [line for line in local.splitlines() if not line.startswith('["connectorState"')]


def test_raw_commands_answer_from_the_images_as_from_the_local_commands(built: None, tmp_path: Path) -> None:
    def outputs(image: bool) -> list[str]:
        directory = tmp_path / ("image" if image else "local")
        db = directory / "db" / "raw.db"
        source = str(_catalog(directory, image, db))
        _writable_by_the_image_user(directory, db.parent)
        capture = ("--capture", "acmeCo/source-hello-world", "--network", "none")
        materialization = ("--materialization", "tests/to-sqlite", "--network", "none")
        return [
            _ok(flowctl("raw", "spec", "--source", source, *capture)),
            _ok(flowctl("raw", "discover", "--source", source, *capture, "--emit-raw")),
            _ok(flowctl("raw", "validate", "--source", source, *capture)),
            _ok(flowctl("raw", "apply", "--source", source, *capture)),
            _ok(flowctl("raw", "spec", "--source", source, *materialization)),
            _ok(flowctl("raw", "validate", "--source", source, *materialization)),
            _ok(flowctl("raw", "apply", "--source", source, *materialization)),
        ]

    image, local = outputs(True), outputs(False)
    assert json.loads(image[0])["documentationUrl"] == "https://go.estuary.dev/source-hello-world"
    assert [len(o.splitlines()) for o in image[1:2]] == [2]  # greetings and languages discovered
    assert image == local


def _tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"'), key=repr) for name in names}


def test_sqlite_image_materializes_a_fixture_into_a_file_of_the_catalog_directory(
    built: None, tmp_path: Path
) -> None:
    """The catalog's directory is mounted at the same path, so the config's absolute path names
    the same file inside the container and out; the file is written by the image's user."""
    results = {}
    for image in (True, False):
        directory = tmp_path / ("image" if image else "local")
        db = directory / "db" / "materialize.db"
        source = str(_catalog(directory, image, db))
        _writable_by_the_image_user(directory, db.parent)
        out = _ok(
            flowctl(
                "preview", "--source", source, "--name", "tests/to-sqlite", "--fixture", str(FIXTURE),
                "--output-state", "--network", "none",
            )
        )  # fmt: skip
        results[image] = (out, _tables(db), db.stat().st_uid)
    (image_out, image_tables, image_uid), (local_out, local_tables, _) = results[True], results[False]
    assert image_uid == IMAGE_USER
    assert image_tables["simple"] and image_tables["data_types"]
    assert image_out == local_out and image_tables == local_tables


def test_a_pipeline_of_images_captures_into_sqlite(built: None, tmp_path: Path) -> None:
    db = tmp_path / "db" / "unused.db"
    source = str(_catalog(tmp_path, True, db))
    _writable_by_the_image_user(tmp_path, db.parent)
    out = _ok(
        flowctl(
            "run", "--source", source, "--materialization", "acmeCo/greetings-to-sqlite",
            "--until-caught-up", "--network", "none",
        )
    )  # fmt: skip
    assert out.startswith(
        "run summary: 20 documents captured (acmeCo/greetings: 12, acmeCo/languages: 8);"
    ), out
    tables = _tables(db.with_suffix(".run.db"))
    assert len(tables["greetings"]) == HELLO_CONFIG["count"] and len(tables["languages"]) == 8


def _descendants(pid: int) -> dict[int, list[str]]:
    """Every living process under `pid`, with its argv."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[0] != "Z":
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    found: dict[int, list[str]] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = (Path("/proc") / str(child) / "cmdline").read_bytes().decode().split("\0")[:-1]
        except OSError:
            continue
        todo += children.get(child, [])
    return found


def _connector_interfaces(root: int) -> tuple[int, list[str]]:
    """The connector's process under `root` and its network interfaces (/proc/<pid>/net/dev).

    Not `buildah run` itself (its argv holds the command too), and retried briefly: buildah's
    chroot isolation passes through short-lived processes with the same argv, which may be gone
    by the time their /proc entry is read."""
    deadline = time.monotonic() + 10
    while True:
        for pid, argv in _descendants(root).items():
            if "source_hello_world" in argv and argv and "buildah" not in Path(argv[0]).name:
                try:
                    return pid, (Path("/proc") / str(pid) / "net" / "dev").read_text().splitlines()[2:]
                except OSError:
                    continue
        assert time.monotonic() < deadline, "no connector process under flowctl"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _containers() -> set[str]:
    proc = subprocess.run(
        ["buildah", "containers", "--format", "{{.ContainerName}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(proc.stdout.split())


@pytest.fixture
def preview_process(built: None, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [FLOWCTL, "preview", "--source", str(_catalog(tmp_path, image=True)), "--network", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CONTAINER_ENGINE": "buildah"},
        start_new_session=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_hello_world_image_has_no_network_and_goes_with_a_sigkilled_flowctl(
    preview_process: subprocess.Popen[str],
) -> None:
    assert preview_process.stdout is not None
    assert preview_process.stdout.readline().startswith('["acmeCo/'), preview_process.stderr
    connector, interfaces = _connector_interfaces(preview_process.pid)
    processes = _descendants(preview_process.pid)
    runner = next(argv for argv in processes.values() if argv[:2] == ["buildah", "run"])
    container = runner[runner.index("--") - 1]
    assert container.startswith("flowctl-") and container in _containers()
    # Its own network namespace, with no interface but a loopback that is down.
    assert [line.split(":")[0].strip() for line in interfaces] == ["lo"]
    assert os.readlink(f"/proc/{connector}/ns/net") != os.readlink("/proc/self/ns/net")

    preview_process.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (any(_alive(p) for p in processes) or container in _containers()):
        time.sleep(0.1)
    assert [argv for p, argv in processes.items() if _alive(p)] == []
    assert container not in _containers()
