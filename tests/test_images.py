"""Every connector image, built for real and started the way Flow starts it.

The images are built once per run with build-local.sh and buildah (tools/build_images.py, as
`make images` does; `make test` runs that first, so here the cached layers make it quick), then each image's own entrypoint is started as Flow's
connector-init starts it (tools/image_run.py: a fresh container, the image's user, JSON lines on
stdin/stdout, the internal Spec request first) and must answer spec, and a capture must answer
discover, validate and an open that emits documents and a checkpoint. source-hello-world runs with
no network at all. The labels Flow reads, the non-root user, the variant Dockerfile, the absence
of this machine's CA bundle from every image and the layer reuse of a rebuild are checked too.

Needs buildah (it runs the images here; `.ci/run` installs it). Without buildah and podman these
tests are skipped with the reason; with podman alone they are skipped too, because `podman run`
cannot start containers on these machines (no cgroups or rlimits for its OCI runtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

if shutil.which("buildah") is None:
    pytest.skip(
        "image tests need buildah to run images (Debian: apt-get install buildah; .ci/run installs it)",
        allow_module_level=True,
    )

import build_images
import image_run
from check_docker_copies import connectors
from container_engine import Engine, ImageInfo

BUILDAH = Engine("buildah")
PROTOCOL_VERSION = 3032023
CONNECTORS = connectors()
CAPTURES = [c for c in CONNECTORS if c.startswith("source-")]


@dataclass(frozen=True)
class OpenFixture:
    """What a capture's open needs beyond its config.yaml: a service to start from the
    connector's own image (its printed URL goes into `url_key` of the config), and whether the
    capture needs this machine's network to reach it."""

    service: tuple[str, ...] = ()
    url_key: str = ""  # dotted for a nested field: "advanced.base_url"
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def network(self) -> bool:
        return bool(self.service)


# Captures whose open cannot run from config.yaml alone. Every other capture is opened offline.
OPEN_FIXTURES: dict[str, OpenFixture] = {
    "source-hackernews": OpenFixture(
        service=("/opt/venv/bin/python", "-m", "source_hackernews.fake_api", "--port", "0", "--items", "60"),
        url_key="base_url",
        config={"concurrency": 4},
    ),
    # HubSpot's API needs credentials and an account: the connector's own fake HubSpot (its
    # tests' server, shipped in the image's source tree) stands in for both.
    "source-hubspot-native": OpenFixture(
        service=("/opt/venv/bin/python", "-m", "tests.fake_hubspot", "--port", "0"),
        url_key="advanced.base_url",
    ),
}


# Images of this checkout under a name of its own: several checkouts on one machine (sessions,
# CI) share the engine's image store, and one's `make test` must not test another's images.
IMAGE_REPO = "localhost/flow-connectors-test/" + hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]
BUILD_ENV = {"CONTAINER_ENGINE": "buildah", "IMAGE_REPO": IMAGE_REPO}


def tag(connector: str) -> str:
    return f"{IMAGE_REPO}/{connector}:local"


@pytest.fixture(scope="session")
def images(request: pytest.FixtureRequest) -> dict[str, ImageInfo]:
    """Build every connector's image (build-local.sh), once per run; their inspections."""
    started = time.monotonic()
    infos: dict[str, ImageInfo] = {}
    for connector in CONNECTORS:
        result = build_images.build(connector, env=BUILD_ENV)
        if not result.ok:
            pytest.fail(f"./build-local.sh {connector} failed; last lines of {result.log}:\n{result.tail()}")
        infos[connector] = BUILDAH.inspect(tag(connector))
    # Said on the terminal, past pytest's capture: what the image tests cost shows in every run.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"image tests: {len(CONNECTORS)} images built (on cached layers where unchanged) in "
                f"{time.monotonic() - started:.1f}s; logs in {build_images.LOG_DIR}"
            )
    return infos


@pytest.mark.parametrize("connector", CONNECTORS)
def test_labels_flow_reads(connector: str, images: dict[str, ImageInfo]) -> None:
    info = images[connector]
    expected = "materialize" if connector.startswith("materialize-") else "capture"
    assert info.labels["FLOW_RUNTIME_PROTOCOL"] == expected
    assert info.labels["FLOW_RUNTIME_CODEC"] == "json"
    assert info.env["FLOW_RUNTIME_CODEC"] == "json"  # connector-init reads the label or the env
    assert float(info.labels["dev.estuary.usage-rate"]) == 1.0
    assert info.labels["dev.estuary.connector"] == connector
    assert info.entrypoint == ["/opt/venv/bin/serve-connector"]
    assert info.env["DOCS_URL"] == f"https://go.estuary.dev/{connector}"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_runs_as_a_non_root_user_who_cannot_change_the_code(
    connector: str, images: dict[str, ImageInfo]
) -> None:
    info = images[connector]
    assert info.user not in ("", "0", "root")
    assert image_run.run_command(tag(connector), ["id", "-u"]).strip() == info.user
    # The venv and the sources belong to root: the connector's user can read but not write them.
    probe = "for d in /opt/venv /opt/estuary-cdk /opt/{c}; do test -r $d && ! test -w $d || echo $d; done"
    assert image_run.run_command(tag(connector), ["sh", "-c", probe.format(c=connector)]).strip() == ""


@pytest.mark.parametrize("connector", CONNECTORS)
def test_runs_in_its_working_directory_with_its_environment(
    connector: str, images: dict[str, ImageInfo]
) -> None:
    script = 'pwd; echo "$FLOW_RUNTIME_CODEC $VIRTUAL_ENV $DOCS_URL"; command -v python'
    assert image_run.run_command(tag(connector), ["sh", "-c", script]).splitlines() == [
        f"/opt/{connector}",
        f"json /opt/venv https://go.estuary.dev/{connector}",
        "/opt/venv/bin/python",
    ]


@pytest.mark.parametrize("connector", CONNECTORS)
def test_the_kits_accelerator_is_built_for_the_image_and_the_compiler_stays_out(
    connector: str, images: dict[str, ImageInfo]
) -> None:
    """This machine's own build of the kit's C accelerator never enters the build context
    (.dockerignore); the builder stage compiles one for the image's Python, and its compiler
    stays in the builder."""
    script = (
        "python -c 'import estuary_cdk.materialize._packed_c as m; print(m.__file__)'; "
        "command -v gcc cc || echo no-compiler"
    )
    accelerator, compiler = image_run.run_command(tag(connector), ["sh", "-c", script]).split()
    assert accelerator.startswith("/opt/estuary-cdk/estuary_cdk/materialize/_packed_c.")
    assert accelerator.endswith(".so")
    assert compiler == "no-compiler"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_entrypoint_answers_spec_without_network(connector: str, images: dict[str, ImageInfo]) -> None:
    session = image_run.converse(tag(connector), images[connector], [], network=False)
    assert session.returncode == 0, session.stderr
    spec = session.one("spec")
    assert spec["protocol"] == PROTOCOL_VERSION
    assert spec["configSchema"]["type"] == "object"
    assert spec["documentationUrl"].startswith("https://")
    assert spec["resourceConfigSchema"]["type"] == "object"
    assert [list(r) for r in session.responses] == [["spec"]]


def endpoint_config(connector: str, fixture: OpenFixture, service_url: str | None) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / connector / "config.yaml").read_text()) or {}
    if "sops" in config:
        pytest.fail(
            f"{connector}/config.yaml is sops-encrypted: give {connector} an OpenFixture in "
            "tests/test_images.py with a config its image can be opened with offline"
        )
    config.update(fixture.config)
    if service_url is not None:
        *parents, leaf = fixture.url_key.split(".")  # a dotted key is a nested field
        target = config
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = service_url
    return config


@contextmanager
def service(connector: str, fixture: OpenFixture) -> Iterator[str | None]:
    if not fixture.service:
        yield None
        return
    with image_run.serving(tag(connector), list(fixture.service)) as url:
        yield url


def collection(binding: dict[str, Any]) -> dict[str, Any]:
    """The collection a discovered binding would be captured into (what Validate/Open carry)."""
    return {
        "name": f"acmeCo/{binding['recommendedName']}",
        "key": binding["key"],
        "writeSchema": binding["documentSchema"],
    }


def until_documents_and_checkpoint(acks: bool) -> Any:
    """Stop once a checkpoint follows at least one document; acknowledge earlier checkpoints
    when the connector asked for explicit acknowledgements."""

    def step(responses: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        if "checkpoint" not in responses[-1]:
            return []
        if any("captured" in r for r in responses):
            return None
        opened = next((r["opened"] for r in responses if "opened" in r), {})
        return [{"acknowledge": {"checkpoints": 1}}] if acks or opened.get("explicitAcknowledgements") else []

    return step


def logged_errors(stderr: str) -> list[str]:
    found = []
    for line in stderr.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and str(entry.get("level", "")).lower() in ("error", "fatal"):
            found.append(line)
    return found


@pytest.mark.parametrize("connector", CAPTURES)
def test_capture_discovers_validates_and_opens(connector: str, images: dict[str, ImageInfo]) -> None:
    fixture = OPEN_FIXTURES.get(connector, OpenFixture())
    info = images[connector]
    with service(connector, fixture) as url:
        config = endpoint_config(connector, fixture, url)

        discover = image_run.converse(
            tag(connector),
            info,
            [{"discover": {"connectorType": "IMAGE", "config": config}}],
            network=fixture.network,
        )
        assert discover.returncode == 0, discover.stderr
        bindings = discover.one("discovered")["bindings"]
        assert bindings
        for binding in bindings:
            assert binding["recommendedName"] and binding["key"] and binding["documentSchema"]

        validate = image_run.converse(
            tag(connector),
            info,
            [
                {
                    "validate": {
                        "name": f"acmeCo/{connector}",
                        "connectorType": "IMAGE",
                        "config": config,
                        "bindings": [
                            {"resourceConfig": b["resourceConfig"], "collection": collection(b)}
                            for b in bindings
                        ],
                    }
                }
            ],
            network=fixture.network,
        )
        assert validate.returncode == 0, validate.stderr
        paths = [v["resourcePath"] for v in validate.one("validated")["bindings"]]
        assert len(paths) == len(bindings)
        assert all(path and all(isinstance(part, str) and part for part in path) for path in paths)

        capture = {
            "name": f"acmeCo/{connector}",
            "connectorType": "IMAGE",
            "config": config,
            "intervalSeconds": 0,
            "bindings": [
                {
                    "resourceConfig": b["resourceConfig"],
                    "resourcePath": path,
                    "collection": collection(b),
                    "stateKey": "/".join(path),
                }
                for b, path in zip(bindings, paths, strict=True)
            ],
        }
        opened = image_run.converse(
            tag(connector),
            info,
            [{"open": {"capture": capture, "version": "image-test", "state": {}}}],
            network=fixture.network,
            until=until_documents_and_checkpoint(acks=False),
            timeout=120,
        )
    kinds = [next(iter(r)) for r in opened.responses]
    assert kinds[:2] == ["spec", "opened"], kinds
    documents = [r["captured"] for r in opened.responses if "captured" in r]
    assert documents, kinds
    assert all(0 <= d["binding"] < len(bindings) and isinstance(d["doc"], dict) for d in documents)
    assert kinds[-1] == "checkpoint"
    assert isinstance(opened.responses[-1]["checkpoint"]["state"]["updated"], dict)
    # The input closed after the checkpoint; the connector ended without an error (by itself, or
    # stopped with SIGTERM as Flow stops a capture that does not ask for acknowledgements).
    assert opened.returncode == 0 or opened.ended_by == "sigterm", (opened.returncode, opened.stderr)
    assert logged_errors(opened.stderr) == []


def test_hello_world_really_runs_without_network(images: dict[str, ImageInfo]) -> None:
    """The same launcher without network: no interface is up, so nothing is reachable."""
    probe = "import socket\ntry:\n socket.create_connection(('192.0.2.1', 80), 5)\nexcept OSError as e:\n print(e.errno)"
    out = image_run.run_command(tag("source-hello-world"), ["python", "-c", probe], network=False)
    assert out.strip() == "101"  # ENETUNREACH at once, not a timeout


@contextmanager
def mounted(image: str) -> Iterator[Path]:
    """The image's root filesystem, read from a working container's mount."""
    with image_run.working_container(image) as container:
        path = Path(BUILDAH.command("mount", container, timeout=120).stdout.strip())
        try:
            yield path
        finally:
            BUILDAH.command("umount", container, check=False, timeout=120)


def test_variant_dockerfile_retags_with_the_new_docs_url(
    tmp_path: Path, images: dict[str, ImageInfo]
) -> None:
    base = images["source-hello-world"]
    variant = f"{IMAGE_REPO}/source-hello-world-variant:local"
    docs_url = "https://go.estuary.dev/source-hello-world-variant"
    BUILDAH.build(
        ROOT / "connector-variant.Dockerfile",
        tmp_path,  # the variant copies nothing: an empty context
        variant,
        {"BASE_CONNECTOR": tag("source-hello-world"), "DOCS_URL": docs_url},
    )
    try:
        info = BUILDAH.inspect(variant)
        assert info.env["DOCS_URL"] == docs_url
        assert {k: v for k, v in info.env.items() if k != "DOCS_URL"} == {
            k: v for k, v in base.env.items() if k != "DOCS_URL"
        }
        assert info.labels == base.labels
        assert (info.entrypoint, info.user, info.working_dir) == (
            base.entrypoint,
            base.user,
            base.working_dir,
        )
        session = image_run.converse(variant, info, [])
        assert session.one("spec")["protocol"] == PROTOCOL_VERSION
        assert (
            BUILDAH.inspect(tag("source-hello-world")).env["DOCS_URL"] != docs_url
        )  # the original is untouched
    finally:
        BUILDAH.remove(variant)


def _ca_fingerprints() -> dict[str, bytes]:
    """A distinctive line of each CA certificate this machine trusts on its own (Debian keeps
    them in /usr/local/share/ca-certificates; the TLS-inspecting proxy's is one of them)."""
    found = {}
    for cert in sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt")):
        body = [
            line for line in cert.read_text(errors="replace").splitlines() if line and "-----" not in line
        ]
        if len(body) > 3:
            found[cert.name] = body[2].encode()
    return found


@pytest.mark.parametrize("connector", CONNECTORS)
def test_no_image_carries_this_machines_ca_certificates(connector: str, images: dict[str, ImageInfo]) -> None:
    """The builds trusted this machine's CA bundle (a build secret); no file of the image has it."""
    needles = _ca_fingerprints()
    if not needles:
        pytest.skip("this machine trusts no CA of its own (/usr/local/share/ca-certificates has none)")
    # The fingerprints do find the certificates where they are: in this machine's bundle.
    bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    assert all(line in bundle for line in needles.values())
    carriers = []
    with mounted(tag(connector)) as rootfs:
        assert (rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt").stat().st_size > 0
        assert not (rootfs / "run" / "secrets").exists() or not any((rootfs / "run" / "secrets").iterdir())
        for path in rootfs.rglob("*"):
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            carriers += [
                f"{path.relative_to(rootfs)} ({name})" for name, line in needles.items() if line in data
            ]
    assert carriers == []


def test_base_image_has_the_python_line_and_what_connectors_need_at_run_time(
    images: dict[str, ImageInfo],
) -> None:
    import python_stand_in

    base = "flow-connectors/base-image:" + (ROOT / "base-image" / "VERSION").read_text().strip()
    line = python_stand_in.python_line(python_stand_in.python_image())
    script = (
        "python -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'; "
        "id -un 65532; ssh -V 2>&1 | cut -c1-7; test -e /usr/share/zoneinfo/US/Pacific && echo legacy-zones"
    )
    assert image_run.run_command(base, ["sh", "-c", script]).split() == [
        line,
        "nonroot",
        "OpenSSH",
        "legacy-zones",
    ]
    with mounted(base) as rootfs:
        assert [p.name for p in (rootfs / "var" / "lib" / "apt" / "lists").glob("*_*")] == []
        assert list((rootfs / "var" / "cache" / "apt").glob("*.bin")) == []


def test_python_image_stand_in_says_what_it_is(images: dict[str, ImageInfo]) -> None:
    import python_stand_in

    image = python_stand_in.qualified(python_stand_in.python_image(), BUILDAH)
    labels = BUILDAH.inspect(image).labels
    if python_stand_in.STAND_IN_LABEL not in labels:
        pytest.skip(f"{image} is the registry's own image here, not a stand-in")
    suite = python_stand_in.recipe_for(image).suite
    assert labels[python_stand_in.STAND_IN_LABEL] == f"debian-{suite}"
    # The connector images built on it say so too (labels are inherited).
    assert all(
        info.labels.get(python_stand_in.STAND_IN_LABEL) == f"debian-{suite}" for info in images.values()
    )
    with mounted(image) as rootfs:
        assert not (rootfs / "etc" / "resolv.conf").exists()  # nothing of this machine's network setup
        assert not (rootfs / "etc" / "hostname").exists()
        assert list((rootfs / "usr" / "share" / "man").iterdir()) == []
        assert (rootfs / "usr" / "local" / "bin" / "python").resolve(strict=False).name.startswith("python3")


def _layers(image: str) -> list[str]:
    data = json.loads(BUILDAH.command("inspect", "--type", "image", image, timeout=60).stdout)
    return [layer["digest"] for layer in json.loads(data["Manifest"])["layers"]]


def test_a_change_to_a_connectors_code_reuses_the_dependency_layers(
    tmp_path: Path, images: dict[str, ImageInfo]
) -> None:
    """Rebuilt after a change to its code, an image differs only in the layer of that code: the
    base, the installed dependencies and the kit are the same layers (nothing to push again)."""
    repo = tmp_path / "repo"
    # What the build context holds of these (.dockerignore), so the first build is all cached.
    skip = shutil.ignore_patterns(
        ".venv", "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache"
    )
    for name in ("base-image", "python", "estuary-cdk", "source-hello-world"):
        shutil.copytree(ROOT / name, repo / name, ignore=skip)
    (repo / "tools").mkdir()
    for name in ("build-local.sh", ".dockerignore", "tools/python_stand_in.py", "tools/container_engine.py"):
        shutil.copy2(ROOT / name, repo / name)
    env = {**BUILD_ENV, "IMAGE_REPO": f"{IMAGE_REPO}/rebuilt"}
    image = f"{IMAGE_REPO}/rebuilt/source-hello-world:local"

    def build() -> str:
        proc = subprocess.run(
            ["bash", str(repo / "build-local.sh"), "source-hello-world"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=900,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    try:
        build()
        before = _layers(image)
        module = repo / "source-hello-world" / "source_hello_world" / "__init__.py"
        module.write_text(module.read_text() + "\n# a change to the connector's code\n")
        log = build()
        after = _layers(image)
    finally:
        BUILDAH.remove(image)
    deps_step = log.split("--no-root --no-directory", 1)[1].split("STEP", 1)[0]
    assert "Using cache" in deps_step  # the dependency install did not run again
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(before) == len(after)
    assert len(changed) == 1, f"layers that differ: {changed} of {len(before)}"


def test_an_image_exports_as_an_oci_archive(tmp_path: Path, images: dict[str, ImageInfo]) -> None:
    archive = tmp_path / "source-hello-world.oci.tar"
    BUILDAH.save_oci(tag("source-hello-world"), archive)
    with tarfile.open(archive) as tar:

        def blob(digest: str) -> bytes:
            member = tar.extractfile(f"blobs/{digest.replace(':', '/')}")
            assert member is not None
            return member.read()

        def read(name: str) -> Any:
            member = tar.extractfile(name)
            assert member is not None
            return json.loads(member.read())

        assert read("oci-layout")["imageLayoutVersion"] == "1.0.0"
        manifest = json.loads(blob(read("index.json")["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        assert config["config"]["Labels"]["FLOW_RUNTIME_PROTOCOL"] == "capture"
        assert config["config"]["Entrypoint"] == ["/opt/venv/bin/serve-connector"]
        names = set(tar.getnames())
        assert manifest["layers"] and all(
            f"blobs/{layer['digest'].replace(':', '/')}" in names for layer in manifest["layers"]
        )
