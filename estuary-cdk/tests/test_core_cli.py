"""`connector spec|discover|validate|open` and the helpers behind it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from estuary_cdk.cli import CliError, encode_state_key, load_config

FIXTURES = Path(__file__).parent / "core_fixtures"
CDK_ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("path", "backfill", "expected"),
    [
        (["items"], 0, "items"),
        (["public", "table"], 1, "public%2Ftable.v1"),
        (["a b", "c:d"], 0, "a%20b%2Fc%3Ad"),
        (["Ünïcödé", "日本", "x-_+.=y"], 0, "Ünïcödé%2F日本%2Fx-_+.=y"),
        (["emoji😀"], 3, "emoji%F0%9F%98%80.v3"),
    ],
)
def test_encode_state_key(path: list[str], backfill: int, expected: str) -> None:
    assert encode_state_key(path, backfill) == expected


def test_load_config_yaml_normalizes_to_json(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("token: abc\nstart: 2024-01-02T03:04:05Z\nday: 2024-01-02\n")
    assert load_config(cfg) == {"token": "abc", "start": "2024-01-02T03:04:05Z", "day": "2024-01-02"}


def _age_key(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The repository's TEST-ONLY age identity: its recipient and an environment to decrypt."""
    key_file = CDK_ROOT.parent / "tools" / "sops" / "test-age-key.txt"
    recipient = next(
        line.split(":", 1)[1].strip() for line in key_file.read_text().splitlines() if "public key:" in line
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env.update(SOPS_AGE_KEY_FILE=str(key_file), HOME=str(tmp_path))
    return recipient, env


def test_sops_config_is_decrypted_with_its_own_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowctl.sops import sops_binary

    recipient, env = _age_key(tmp_path)
    plain = tmp_path / "plain.yaml"
    plain.write_text("token_enc: s3cret\nnested:\n  key_enc: k\n  keep_sops: 1\n")
    encrypted = subprocess.run(
        [sops_binary(), "--encrypt", "--age", recipient, "--encrypted-suffix", "_enc", str(plain)],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout
    cfg = tmp_path / "config.yaml"
    cfg.write_bytes(encrypted)
    assert b"s3cret" not in encrypted
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The file's own `encrypted_suffix` is removed; another key ending in `_sops` is kept as is.
    assert load_config(cfg) == {"token": "s3cret", "nested": {"key": "k", "keep_sops": 1}}


def test_sops_failure_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("token_sops: ENC[x]\nsops:\n  version: 3.9.0\n  mac: x\n")
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(CliError, match=r"config.yaml: sops could not decrypt the config"):
        load_config(cfg)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FIXTURES), str(CDK_ROOT)]))
    return subprocess.run(
        [sys.executable, "-c", "import source_core; source_core.main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_cli_spec_discover_validate_open(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("token: tok-1\npages: 1\nper_page: 1\nexplicit_acks: true\n")
    spec = run_cli("spec", cwd=tmp_path)
    assert spec.returncode == 0
    assert orjson.loads(spec.stdout)["spec"]["protocol"] == 3032023

    discover = run_cli("discover", cwd=tmp_path)
    assert discover.returncode == 0, discover.stderr
    names = [b["recommendedName"] for b in orjson.loads(discover.stdout)["discovered"]["bindings"]]
    assert names == ["alpha", "beta"]

    validate = run_cli("validate", "--bindings", "beta", cwd=tmp_path)
    assert validate.stdout.decode().splitlines() == ['{"validated":{"bindings":[{"resourcePath":["beta"]}]}}']

    (tmp_path / "state.json").write_text('{"cursors": {"alpha.v2": 0}}')
    opened = run_cli("open", "--state", "state.json", "--backfill", "2", cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr
    lines = opened.stdout.decode().splitlines()
    # Explicit acknowledgements are sent by the CLI, so the session completes; state keys carry .v2.
    assert lines == [
        '{"opened":{"explicitAcknowledgements":true}}',
        '{"captured":{"binding":0,"doc":{"id":100,"page":1,"at":"2025-01-01T00:01:00Z","binding":"alpha"}}}',
        '{"checkpoint":{"state":{"updated":{"cursors":{"alpha.v2":1}},"mergePatch":true}}}',
        '{"captured":{"binding":1,"doc":{"id":100,"page":1,"at":"2025-01-01T00:01:00Z","binding":"beta"}}}',
        '{"checkpoint":{"state":{"updated":{"cursors":{"beta.v2":1}},"mergePatch":true}}}',
    ]


def test_cli_unknown_binding_and_missing_config(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("token: tok-1\n")
    unknown = run_cli("validate", "--bindings", "alpha,nope", cwd=tmp_path)
    assert unknown.returncode == 1 and unknown.stdout == b""
    last = orjson.loads(unknown.stderr.decode().splitlines()[-1])
    assert last["msg"] == "unknown binding(s) nope; discovered: alpha, beta"

    missing = run_cli("discover", "--config", "other.yaml", cwd=tmp_path)
    assert missing.returncode == 1
    assert orjson.loads(missing.stderr.decode().splitlines()[-1])["msg"].startswith("cannot read other.yaml")


def test_cli_invalid_config_names_the_file_and_each_field(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("pages: many\n")
    result = run_cli("discover", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == b""
    stderr_lines = result.stderr.decode().splitlines()
    last = orjson.loads(stderr_lines[-1])
    assert last["msg"] == (
        "config.yaml: invalid configuration: token: Field required; "
        "pages: Input should be a valid integer, unable to parse string as an integer"
    )
    assert "Traceback" not in result.stderr.decode()


def test_cli_without_arguments_serves_the_protocol(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FIXTURES), str(CDK_ROOT)]))
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, source_core; sys.argv = ['connector']; source_core.main()"],
        input=b'{"spec":{"connectorType":"LOCAL","config":{}}}\n',
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert orjson.loads(proc.stdout)["spec"]["protocol"] == 3032023
