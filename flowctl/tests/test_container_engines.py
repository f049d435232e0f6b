"""Which engine runs an image connector, the commands it gets, the runtime's checks of the image,
and how the container guard reads buildah's report of its program's end. (Real images run in the
repository's tests/test_image_previews.py; the process lifecycle is in test_lifetime.py.)"""

from __future__ import annotations

import asyncio
import signal
import stat
from pathlib import Path

import pytest
from flowctl.container_guard import BuildahStatus, signal_named
from flowctl.errors import ConnectorError, ContainerEngineError

from flowctl import images

CONFIG = images.ImageConfig(
    labels={"FLOW_RUNTIME_PROTOCOL": "capture", "FLOW_RUNTIME_CODEC": "json"},
    env=["PATH=/usr/bin", "FLOW_RUNTIME_CODEC=json"],
    entrypoint=["/opt/venv/bin/serve-connector"],
)
ENV = {"LOG_FORMAT": "json", "LOG_LEVEL": "info"}


def test_buildah_runs_the_entrypoint_in_a_working_container_without_network() -> None:
    spec = images.guard_spec("buildah", "ghcr.io/estuary/source-x:local", CONFIG, "none", ENV, ["/work/cat"])
    assert spec["create"] == [
        "buildah",
        "from",
        "--pull=false",
        "--name",
        "{container}",
        "ghcr.io/estuary/source-x:local",
    ]
    assert spec["run"] == [
        "unshare", "--net",
        "buildah", "run", "--isolation", "chroot",
        "--env", "LOG_FORMAT=json", "--env", "LOG_LEVEL=info",
        "--volume", "/work/cat:/work/cat",
        "{container}", "--", "/opt/venv/bin/serve-connector",
    ]  # fmt: skip
    assert spec["remove"] == ["buildah", "rm", "{container}"] and spec["remove_always"]


def test_buildah_shares_this_machines_network_by_default_and_has_no_other() -> None:
    spec = images.guard_spec("buildah", "img", CONFIG, None, ENV, ["/d"])
    assert spec["run"][:2] == ["buildah", "run"]
    with pytest.raises(ContainerEngineError, match=r"--network 'bridge'.*only host or none"):
        images.guard_spec("buildah", "img", CONFIG, "bridge", ENV, ["/d"])


def test_buildah_runs_the_command_when_there_is_no_entrypoint_and_refuses_an_image_with_neither() -> None:
    cmd_only = images.ImageConfig(labels=CONFIG.labels, cmd=["/connector", "--serve"])
    assert images.guard_spec("buildah", "img", cmd_only, None, ENV, ["/d"])["run"][-3:] == [
        "--",
        "/connector",
        "--serve",
    ]
    with pytest.raises(ConnectorError, match="neither an ENTRYPOINT nor a CMD"):
        images.guard_spec("buildah", "img", images.ImageConfig(labels=CONFIG.labels), None, ENV, ["/d"])


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_docker_and_podman_run_the_image_with_rm_and_a_network(engine: str) -> None:
    spec = images.guard_spec(engine, "img:dev", CONFIG, None, ENV, ["/d"])
    assert spec["create"] is None
    assert spec["run"] == [
        engine, "run", "-i", "--rm", "--name", "{container}", "--network=bridge",
        "--env=LOG_FORMAT=json", "--env=LOG_LEVEL=info", "--volume=/d:/d", "img:dev",
    ]  # fmt: skip
    assert spec["remove"] == [engine, "rm", "--force", "{container}"] and not spec["remove_always"]


def test_the_catalog_directory_is_mounted_as_written_and_as_resolved_and_never_the_root(
    tmp_path: Path,
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    real = str((tmp_path / "real").resolve())
    assert images.mount_dirs(str(tmp_path / "link")) == [str(tmp_path / "link"), real]
    assert images.mount_dirs(str(tmp_path / "real")) == [real]
    spec = images.guard_spec("buildah", "img", CONFIG, None, ENV, images.mount_dirs(str(tmp_path / "link")))
    assert spec["run"][-7:-3] == [
        "--volume",
        f"{tmp_path / 'link'}:{tmp_path / 'link'}",
        "--volume",
        f"{real}:{real}",
    ]
    with pytest.raises(ContainerEngineError, match="catalog is in /"):
        images.mount_dirs("/")


@pytest.mark.parametrize(
    ("config", "kind", "message"),
    [
        (images.ImageConfig(), "capture", "image is missing required 'FLOW_RUNTIME_PROTOCOL' label"),
        (CONFIG, "materialization", "the image is a 'capture' connector (FLOW_RUNTIME_PROTOCOL), but materialization 'm' needs a 'materialize' one"),
        (images.ImageConfig(labels={"FLOW_RUNTIME_PROTOCOL": "capture"}), "capture", "the image speaks the protobuf codec"),
    ],
)  # fmt: skip
def test_the_runtimes_checks_of_an_image(config: images.ImageConfig, kind: str, message: str) -> None:
    with pytest.raises(ConnectorError) as err:
        images.check_image("img", config, kind, "m")
    assert message in str(err.value)


def test_the_codec_may_come_from_the_env_alone() -> None:
    env_only = images.ImageConfig(
        labels={"FLOW_RUNTIME_PROTOCOL": "capture"}, env=["FLOW_RUNTIME_CODEC=json"]
    )
    images.check_image("img", env_only, "capture", "c")


def _bin(tmp_path: Path, scripts: dict[str, str]) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(bin_dir)


def _choose(monkeypatch: pytest.MonkeyPatch, path: str, forced: str = "") -> str:
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("CONTAINER_ENGINE", forced)
    monkeypatch.setattr(images, "_podman_checked", {})
    monkeypatch.setattr(images, "_pulled", {})
    return asyncio.run(images.choose_engine("ghcr.io/estuary/source-x:local", "capture 'c'"))


DOCKER_DOWN = "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2; exit 1"
PODMAN_CANNOT_RUN = 'case "$1" in run) echo "Error: crun: setrlimit RLIMIT_NOFILE: Operation not permitted" >&2; exit 126;; esac'
PODMAN_RUNS = 'case "$1" in run) echo "Error: executable file not found" >&2; exit 127;; esac'


def test_docker_first_when_its_engine_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _bin(tmp_path, {"docker": "echo 27.0.0", "podman": PODMAN_RUNS, "buildah": "exit 0"})
    assert _choose(monkeypatch, path) == "docker"


def test_podman_when_docker_does_not_answer_and_podman_can_start_a_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _bin(tmp_path, {"docker": DOCKER_DOWN, "podman": PODMAN_RUNS, "buildah": "exit 0"})
    assert _choose(monkeypatch, path) == "podman"


def test_buildah_when_podman_cannot_start_containers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _bin(tmp_path, {"docker": DOCKER_DOWN, "podman": PODMAN_CANNOT_RUN, "buildah": "exit 0"})
    assert _choose(monkeypatch, path) == "buildah"


def test_no_engine_that_can_run_it_is_one_error_naming_each_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _bin(tmp_path, {"docker": DOCKER_DOWN, "podman": PODMAN_CANNOT_RUN})
    with pytest.raises(ContainerEngineError) as err:
        _choose(monkeypatch, path)
    assert str(err.value) == (
        "capture 'c' uses the image connector 'ghcr.io/estuary/source-x:local', which needs a container engine, "
        "but none can run it (docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.; "
        "podman cannot start containers: Error: crun: setrlimit RLIMIT_NOFILE: Operation not permitted; "
        "buildah: not installed). Start Docker, or install podman or buildah (Debian: apt-get install buildah), "
        "or use an `endpoint.local` command instead"
    )


def test_container_engine_picks_one_and_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _bin(tmp_path, {"docker": "echo 27.0.0", "buildah": "exit 0"})
    assert _choose(monkeypatch, path, "buildah") == "buildah"
    with pytest.raises(
        ContainerEngineError, match="CONTAINER_ENGINE=podman, but the `podman` command is not installed"
    ):
        _choose(monkeypatch, path, "podman")
    with pytest.raises(
        ContainerEngineError, match="CONTAINER_ENGINE must be docker, podman or buildah, not 'lxc'"
    ):
        _choose(monkeypatch, path, "lxc")


def test_a_missing_local_image_says_it_is_never_pulled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _bin(tmp_path, {"buildah": "echo 'Error: source-x:local: image not known' >&2; exit 125"})
    monkeypatch.setenv("PATH", path)
    with pytest.raises(ConnectorError) as err:
        asyncio.run(images.inspect("buildah", "ghcr.io/estuary/source-x:local"))
    assert str(err.value) == (
        "ghcr.io/estuary/source-x:local: the image is not available to buildah: Error: source-x:local: image "
        "not known (a `:local` tag is never pulled: build it, e.g. ./build-local.sh)"
    )


def _relay(data: list[bytes]) -> tuple[bytes, BuildahStatus]:
    out: list[bytes] = []
    status = BuildahStatus(out.append)
    for chunk in data:
        status.feed(chunk)
    status.finish()
    return b"".join(out), status


def test_buildahs_report_of_a_killed_program_is_read_not_relayed() -> None:
    logs = b'{"level":"info","msg":"resuming incremental replication"}\n'
    out, status = _relay([logs[:10], logs[10:] + b"subprocess exited on ki", b"lled\nError: exit status 1\n"])
    assert out == logs
    assert (status.signal, status.exit_status) == (signal.SIGKILL, None)


def test_buildahs_report_of_an_exit_status_is_read_not_relayed() -> None:
    out, status = _relay([b"plain text\nsubprocess exited with status 3\nError: exit status 3\n"])
    assert out == b"plain text\n" and (status.signal, status.exit_status) == (None, 3)


def test_lines_like_buildahs_that_the_connector_wrote_are_relayed() -> None:
    text = b"Error: exit status 7\nthe connector goes on\n"
    out, status = _relay([text])
    assert out == text and (status.signal, status.exit_status) == (None, None)


@pytest.mark.parametrize(
    ("words", "sig"),
    [
        ("killed", signal.SIGKILL),
        ("terminated", signal.SIGTERM),
        ("interrupt", signal.SIGINT),
        ("hangup", signal.SIGHUP),
    ],
)
def test_gos_words_for_signals(words: str, sig: int) -> None:
    assert signal_named(words) == sig


def test_unknown_words_are_no_signal() -> None:
    assert signal_named("stopped by aliens") is None
