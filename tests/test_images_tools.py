"""The image tools without a container engine: the Python stand-in's recipe and decisions, the
engine commands for each engine, how an image's program is launched, and `make images` finding
every connector by wildcard. (tests/test_images.py builds and runs the real images.)"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import build_images
import check_docker_copies
import container_engine
import image_run
import pytest
import python_stand_in
from conftest import ROOT
from container_engine import Engine, EngineError, ImageInfo
from python_stand_in import StandInError
from test_makefile import make_dry_run, scratch_tree


@pytest.mark.parametrize(
    ("image", "line"),
    [
        ("python:3.11-slim-trixie", "3.11"),
        ("docker.io/library/python:3.11-slim", "3.11"),
        ("python:3.13.1-bookworm", "3.13"),
        ("python:3.11", "3.11"),
    ],
)
def test_python_line_of_an_image(image: str, line: str) -> None:
    assert python_stand_in.python_line(image) == line


def test_an_image_without_a_python_line_is_refused() -> None:
    with pytest.raises(StandInError, match="cannot tell the Python line of 'debian:bookworm'"):
        python_stand_in.python_line("debian:bookworm")


def test_the_stand_in_for_python_3_11_is_debian_bookworm_with_its_venv_module() -> None:
    recipe = python_stand_in.recipe_for(python_stand_in.python_image())
    assert recipe.suite == "bookworm"
    assert {"python3.11", "python3.11-venv", "python3-distutils", "ca-certificates", "tzdata"} <= set(
        recipe.packages
    )


def test_a_python_line_debian_does_not_ship_is_a_clear_error() -> None:
    with pytest.raises(StandInError, match=r"no stand-in recipe for Python 3\.12 .*: .*3\.11 \(bookworm\)"):
        python_stand_in.recipe_for("python:3.12-slim")


def test_the_recipe_digest_follows_what_goes_in() -> None:
    a = python_stand_in.Recipe("bookworm", ("python3.11",))
    assert a.digest == python_stand_in.Recipe("bookworm", ("python3.11",)).digest
    assert a.digest != python_stand_in.Recipe("bookworm", ("python3.11", "tzdata")).digest


def test_python_image_is_base_image_dockerfiles_default() -> None:
    assert python_stand_in.python_image() == "python:3.11-slim-trixie"


@pytest.mark.parametrize(
    ("engine", "image", "name"),
    [
        ("docker", "python:3.11-slim", "python:3.11-slim"),
        ("buildah", "python:3.11-slim", "docker.io/library/python:3.11-slim"),
        ("podman", "acme/python:3.11", "docker.io/acme/python:3.11"),
        ("podman", "ghcr.io/acme/python:3.11", "ghcr.io/acme/python:3.11"),
        ("buildah", "localhost/python:3.11", "localhost/python:3.11"),
    ],
)
def test_short_names_are_qualified_as_podman_and_buildah_resolve_them(
    engine: str, image: str, name: str
) -> None:
    assert python_stand_in.qualified(image, Engine(engine)) == name


def test_trim_makes_a_slim_root_filesystem(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    files = [
        "usr/share/doc/bash/copyright",
        "usr/share/doc/bash/changelog.gz",
        "usr/share/man/man1/bash.1.gz",
        "usr/share/locale/de/LC_MESSAGES/apt.mo",
        "etc/resolv.conf",
        "etc/hostname",
        "var/cache/apt/archives/bash_5.2_amd64.deb",
        "var/cache/apt/pkgcache.bin",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "var/log/dpkg.log",
        "etc/dpkg/dpkg.cfg.d/.keep",
        "etc/apt/apt.conf.d/.keep",
        "usr/bin/python3.11",
    ]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    python_stand_in._trim(root, "3.11")
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())
    assert left == [
        "etc/apt/apt.conf.d/.keep",
        "etc/apt/apt.conf.d/docker-slim",
        "etc/dpkg/dpkg.cfg.d/.keep",
        "etc/dpkg/dpkg.cfg.d/slim-image",
        "usr/bin/python3.11",
        "usr/local/bin/python",
        "usr/local/bin/python3",
        "usr/share/doc/bash/copyright",
    ]
    assert os.readlink(root / "usr/local/bin/python") == "/usr/bin/python3.11"
    assert "path-exclude /usr/share/doc/*" in (root / "etc/dpkg/dpkg.cfg.d/slim-image").read_text()
    assert 'Dir::Cache::pkgcache "";' in (root / "etc/apt/apt.conf.d/docker-slim").read_text()


def test_the_stand_in_lists_updates_and_security_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(python_stand_in, "DEBIAN_MIRROR", "http://mirror/debian")
    monkeypatch.setattr(python_stand_in, "DEBIAN_SECURITY_MIRROR", "http://mirror/debian-security")
    (tmp_path / "etc" / "apt").mkdir(parents=True)
    python_stand_in._apt_sources(tmp_path, "bookworm")
    assert (tmp_path / "etc" / "apt" / "sources.list").read_text().splitlines() == [
        "deb http://mirror/debian bookworm main",
        "deb http://mirror/debian bookworm-updates main",
        "deb http://mirror/debian-security bookworm-security main",
    ]


def test_python_version_comes_from_dpkg_status(tmp_path: Path) -> None:
    status = tmp_path / "var" / "lib" / "dpkg" / "status"
    status.parent.mkdir(parents=True)
    status.write_text(
        "Package: python3.11-minimal\nStatus: install ok installed\nVersion: 3.11.2-6+deb12u6\n\n"
        "Package: python3.11\nStatus: install ok installed\nPriority: optional\nVersion: 3.11.2-6+deb12u6\n\n"
    )
    assert python_stand_in._debian_version(tmp_path, "python3.11") == "3.11.2"
    with pytest.raises(StandInError, match=r"debootstrap did not install python3\.12"):
        python_stand_in._debian_version(tmp_path, "python3.12")


class FakeEngine(Engine):
    """An engine whose image store is a dict; pull succeeds only for `pullable`."""

    def __init__(self, images: dict[str, dict[str, str]], pullable: bool) -> None:
        super().__init__("buildah")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "pullable", pullable)

    def exists(self, image: str) -> bool:
        return image in self.images  # type: ignore[attr-defined]

    def inspect(self, image: str) -> ImageInfo:
        return ImageInfo(id="x", size=0, labels=self.images[image])  # type: ignore[attr-defined]

    def pull(self, image: str, timeout: float = 300) -> str | None:
        if self.pullable:  # type: ignore[attr-defined]
            self.images[image] = {}  # type: ignore[attr-defined]
            return None
        return "dial tcp: lookup registry-1.docker.io: no such host"


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    built: list[str] = []

    def fake_build(engine: Engine, image: str, recipe: Any) -> str:
        built.append(image)
        return "3.11.2"

    monkeypatch.setattr(python_stand_in, "build_stand_in", fake_build)
    monkeypatch.setattr(python_stand_in, "LOCK_FILE", tmp_path / "lock")
    return built


IMAGE = "python:3.11-slim-trixie"
NAME = "docker.io/library/python:3.11-slim-trixie"


def test_a_present_registry_image_is_used_as_it_is(stand_ins: list[str]) -> None:
    assert python_stand_in.ensure(FakeEngine({NAME: {}}, pullable=False), IMAGE) == f"{IMAGE}: present"
    assert stand_ins == []


def test_a_missing_image_is_pulled_when_it_can_be(stand_ins: list[str]) -> None:
    assert python_stand_in.ensure(FakeEngine({}, pullable=True), IMAGE) == f"{IMAGE}: pulled"
    assert stand_ins == []


def test_a_missing_image_that_cannot_be_pulled_gets_a_stand_in_and_says_so(stand_ins: list[str]) -> None:
    said = python_stand_in.ensure(FakeEngine({}, pullable=False), IMAGE)
    assert stand_ins == [IMAGE]
    assert said.startswith(
        f"{IMAGE}: could not be pulled (dial tcp: lookup registry-1.docker.io: no such host)"
    )
    assert "built a stand-in under the same tag from Debian bookworm packages (python3.11 3.11.2)" in said


def test_a_stand_in_of_this_recipe_is_reused_and_one_of_another_is_rebuilt(stand_ins: list[str]) -> None:
    digest = python_stand_in.recipe_for(IMAGE).digest
    labels = {python_stand_in.STAND_IN_LABEL: "debian-bookworm", python_stand_in.RECIPE_LABEL: digest}
    said = python_stand_in.ensure(FakeEngine({NAME: labels}, pullable=False), IMAGE)
    assert "using the local stand-in built from Debian bookworm packages" in said
    assert stand_ins == []
    stale = {**labels, python_stand_in.RECIPE_LABEL: "0000000000000000"}
    said = python_stand_in.ensure(FakeEngine({NAME: stale}, pullable=False), IMAGE)
    assert said.startswith(f"{IMAGE}: the local stand-in is of an older recipe, and could not be pulled (")
    assert stand_ins == [IMAGE]
    said = python_stand_in.ensure(FakeEngine({NAME: stale}, pullable=True), IMAGE)
    assert said == f"{IMAGE}: pulled (replacing the local stand-in)"
    assert stand_ins == [IMAGE]  # no second stand-in: the registry's image won


def test_stand_in_needs_debootstrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(python_stand_in.shutil, "which", lambda name: None)
    with pytest.raises(
        StandInError, match=r"debootstrap is not installed \(Debian: apt-get install debootstrap\)"
    ):
        python_stand_in._debootstrap(python_stand_in.recipe_for(IMAGE), tmp_path / "rootfs")


def test_unknown_engines_are_refused() -> None:
    with pytest.raises(EngineError, match="unknown container engine 'nerdctl'"):
        Engine("nerdctl")


@pytest.mark.parametrize(
    ("engine", "start"),
    [
        ("docker", ["build", "-f"]),
        (
            "podman",
            ["build", "--format", "docker", "--pull=false", "--isolation", "chroot", "-f"],
        ),
        (
            "buildah",
            ["bud", "--format", "docker", "--pull=false", "--isolation", "chroot", "-f"],
        ),
    ],
)
def test_build_commands_per_engine(engine: str, start: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUILDAH_ISOLATION", raising=False)
    argv = Engine(engine).build_argv(Path("/r/x.Dockerfile"), Path("/ctx"), "t:1", {"A": "1"})
    assert argv[: len(start)] == start
    assert argv[len(start) :] == ["/r/x.Dockerfile", "-t", "t:1", "--build-arg", "A=1", "/ctx"]


@pytest.mark.parametrize(
    ("engine", "argv"),
    [
        ("docker", ["pull", "python:3"]),
        ("podman", ["pull", "python:3"]),
        ("buildah", ["pull", "--policy", "always", "python:3"]),
    ],
)
def test_pull_asks_the_registry_even_for_a_present_image(engine: str, argv: list[str]) -> None:
    assert Engine(engine).pull_argv("python:3") == argv


def test_a_failing_engine_command_names_itself_and_quotes_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "podman"
    fake.write_text("#!/bin/sh\necho 'Error: image not known' >&2\nexit 125\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(
        EngineError, match=r"`podman image inspect x` failed \(exit 125\): Error: image not known"
    ):
        Engine("podman").inspect("x")
    assert Engine("podman").exists("x") is False


def test_detect_asks_build_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "build-local.sh").write_text((ROOT / "build-local.sh").read_text())
    env_path = tmp_path / "bin"
    env_path.mkdir()
    for tool in ("bash", "dirname", "tr", "grep"):
        found = shutil.which(tool)
        assert found is not None
        os.symlink(found, env_path / tool)
    (env_path / "buildah").write_text("#!/bin/sh\n")
    (env_path / "buildah").chmod(0o755)
    monkeypatch.setenv("PATH", str(env_path))
    monkeypatch.delenv("CONTAINER_ENGINE", raising=False)
    assert container_engine.detect(tmp_path) == Engine("buildah")
    (env_path / "buildah").unlink()
    with pytest.raises(EngineError, match="no container engine found"):
        container_engine.detect(tmp_path)


def test_flow_starts_the_entrypoint_else_the_command() -> None:
    assert image_run.program(ImageInfo("i", 0, entrypoint=["/e"], cmd=["c"])) == ["/e"]
    assert image_run.program(ImageInfo("i", 0, cmd=["python3"])) == ["python3"]
    with pytest.raises(image_run.ImageRunError, match="neither an ENTRYPOINT nor a CMD"):
        image_run.program(ImageInfo("i", 0))


def test_an_image_without_network_runs_in_a_network_namespace_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BUILDAH_ISOLATION", raising=False)
    argv = image_run.run_argv("c1", ["/e", "x"], False, {"LOG_FORMAT": "json"})
    assert argv == [
        "unshare",
        "--net",
        "buildah",
        "run",
        "--isolation",
        "chroot",
        "--env",
        "LOG_FORMAT=json",
        "c1",
        "--",
        "/e",
        "x",
    ]
    assert image_run.run_argv("c1", ["/e"], True, {})[:2] == ["buildah", "run"]


def test_images_are_found_by_wildcard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("source-b", "materialize-a", "source-no-project", "other-x"):
        (tmp_path / name).mkdir()
        if name != "source-no-project":
            (tmp_path / name / "pyproject.toml").write_text("")
    monkeypatch.setattr(check_docker_copies, "ROOT", tmp_path)
    assert check_docker_copies.connectors() == ["materialize-a", "source-b"]


def test_make_images_builds_every_connector_and_can_write_oci_archives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = scratch_tree(tmp_path)
    assert "tools/build_images.py  materialize-c source-a source-b" in make_dry_run(tree, "images")
    monkeypatch.setenv("OCI", "out")  # as `make images OCI=out`
    assert f"tools/build_images.py --oci-dir {tree}/out materialize-c source-a source-b" in make_dry_run(
        tree, "images"
    )


def test_build_images_refuses_what_is_not_a_connector(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_images.main(["source-nope"])
    assert exit_info.value.code == 2
    assert (
        "not a connector of this repository (no <name>/pyproject.toml): source-nope"
        in capsys.readouterr().err
    )


def test_figures_of_docker_builds_say_why_there_is_no_start_to_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    info = ImageInfo("i", 212_000_000, labels={"FLOW_RUNTIME_PROTOCOL": "materialize"})
    monkeypatch.setattr(Engine, "inspect", lambda self, image: info)
    figures = build_images.figures(Engine("docker"), "ghcr.io/estuary/materialize-x:local", starts=3)
    assert (figures.size_mb, figures.protocol, figures.spec_s) == (212.0, "materialize", None)
    assert figures.note == "start-to-spec is measured for podman and buildah builds"


def test_image_tags_follow_image_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_images.image_tag("source-x") == "ghcr.io/estuary/source-x:local"
    monkeypatch.setenv("IMAGE_REPO", "localhost/test")
    assert build_images.image_tag("source-x") == "localhost/test/source-x:local"
