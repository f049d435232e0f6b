"""sops-encrypted connector configs, end to end, with an age key generated for the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from flowctl.sops import sops_binary, strip_suffix
from flowctl.sops_keys import fixture_identity
from pyrage import x25519

from .conftest import FAKE, Catalog, run_flowctl

ID_SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}


@pytest.fixture
def hermetic_env(tmp_path: Path) -> dict[str, str]:
    """No sops keys from the machine: a fresh HOME and no SOPS_* variables."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    return env


def _encrypted_catalog(
    tmp_path: Path, env: dict[str, str], identity: x25519.Identity | str, fmt: str = "yaml"
) -> Catalog:
    """A catalog whose config is sops-encrypted to `identity` (or to the recipient string)."""
    recipient = identity if isinstance(identity, str) else str(identity.to_public())
    plain = tmp_path / f"plain.{fmt}"
    config = {"mode": "ok", "credentials": {"api_key_sops": "s3cret", "title": "API key"}, "per_session": 1}
    plain.write_text(yaml.safe_dump(config) if fmt == "yaml" else json.dumps(config))
    encrypted = subprocess.run(
        [
            sops_binary(),
            "--encrypt",
            "--age",
            recipient,
            "--encrypted-suffix",
            "_sops",
            "--input-type",
            fmt,
            "--output-type",
            fmt,
            str(plain),
        ],
        capture_output=True,
        env=env,
        cwd=tmp_path,  # keep the repository's .sops.yaml creation rules out of this
        check=True,
    ).stdout
    plain.unlink()
    (tmp_path / f"config.{fmt}").write_bytes(encrypted)
    assert b"s3cret" not in encrypted and b"ENC[AES256_GCM" in encrypted
    (tmp_path / "flow.yaml").write_text(
        yaml.safe_dump(
            {
                "collections": {"acmeCo/users": {"schema": ID_SCHEMA, "key": ["/id"]}},
                "captures": {
                    "acmeCo/source-fake": {
                        "endpoint": {
                            "local": {
                                "command": [sys.executable, str(FAKE)],
                                "config": f"config.{fmt}",
                                "env": {"FAKE_RECORD": str(tmp_path / "requests.jsonl")},
                            }
                        },
                        "bindings": [{"resource": {"name": "users"}, "target": "acmeCo/users"}],
                    }
                },
            }
        )
    )
    return Catalog(tmp_path / "flow.yaml", tmp_path / "requests.jsonl")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_sops_config_is_decrypted_and_suffix_stripped(
    tmp_path: Path, hermetic_env: dict[str, str], fmt: str
) -> None:
    identity = x25519.Identity.generate()
    cat = _encrypted_catalog(tmp_path, hermetic_env, identity, fmt)
    key_file = tmp_path / "keys.txt"
    key_file.write_text(str(identity) + "\n")
    res = run_flowctl(
        "preview", "--source", str(cat.path), env={**hermetic_env, "SOPS_AGE_KEY_FILE": str(key_file)}
    )
    assert res.code == 0, res.stderr
    assert [d["id"] for _, d in res.lines()] == [1]
    config = cat.requests("open")[0]["request"]["open"]["capture"]["config"]
    assert config == {
        "mode": "ok",
        "credentials": {"api_key": "s3cret", "title": "API key"},
        "per_session": 1,
    }
    # the key may also come inline, through SOPS_AGE_KEY
    res = run_flowctl(
        "raw", "validate", "--source", str(cat.path), env={**hermetic_env, "SOPS_AGE_KEY": str(identity)}
    )
    assert res.code == 0, res.stderr
    # raw bundle shows the config as written (still encrypted)
    bundled = run_flowctl(
        "raw", "bundle", "--source", str(cat.path), env={**hermetic_env, "SOPS_AGE_KEY": str(identity)}
    )
    assert "s3cret" not in bundled.stdout and "ENC[" in bundled.stdout


def test_missing_sops_key_is_a_clear_error(tmp_path: Path, hermetic_env: dict[str, str]) -> None:
    identity = x25519.Identity.generate()
    cat = _encrypted_catalog(tmp_path, hermetic_env, identity)
    res = run_flowctl("preview", "--source", str(cat.path), env=hermetic_env)
    assert res.code == 1
    assert str(tmp_path / "config.yaml") in res.stderr
    assert "sops could not decrypt the config: Failed to get the data key" in res.stderr  # sops' own words
    assert (
        f"fix: no usable decryption key: it is encrypted to age recipient {identity.to_public()}: set "
        "SOPS_AGE_KEY_FILE (or SOPS_AGE_KEY) to that recipient's identity" in res.stderr
    )
    assert not cat.record.exists()  # the connector never ran


def test_a_config_encrypted_to_the_test_only_key_needs_no_key(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    test_key = fixture_identity()
    assert test_key is not None
    cat = _encrypted_catalog(tmp_path, hermetic_env, test_key[0])
    res = run_flowctl("preview", "--source", str(cat.path), env=hermetic_env)
    assert res.code == 0, res.stderr
    config = cat.requests("open")[0]["request"]["open"]["capture"]["config"]
    assert config["credentials"] == {"api_key": "s3cret", "title": "API key"}


def test_a_hand_edited_encrypted_config_points_to_sops_edit(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    test_key = fixture_identity()
    assert test_key is not None
    cat = _encrypted_catalog(tmp_path, hermetic_env, test_key[0])
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("mode: ok", "mode: okay"))
    res = run_flowctl("preview", "--source", str(cat.path), env=hermetic_env)
    assert res.code == 1
    assert "MAC mismatch" in res.stderr
    assert (
        "fix: the file was changed after it was encrypted (sops checks a MAC over every value, so a hand edit "
        f"breaks it): edit encrypted files with `sops edit {config}`" in res.stderr
    )


def test_strip_suffix_at_any_depth() -> None:
    assert strip_suffix({"a_sops": {"b_sops": [{"c_sops": 1}]}, "d": 2}, "_sops") == {
        "a": {"b": [{"c": 1}]},
        "d": 2,
    }


def _with_env(cat: Catalog, env: dict[str, str]) -> None:
    doc = yaml.safe_load(cat.path.read_text())
    doc["captures"]["acmeCo/source-fake"]["endpoint"]["local"]["env"].update(env)
    cat.path.write_text(yaml.safe_dump(doc))


def test_decrypted_config_is_checked_without_showing_encrypted_values(
    tmp_path: Path, hermetic_env: dict[str, str]
) -> None:
    identity = x25519.Identity.generate()
    cat = _encrypted_catalog(tmp_path, hermetic_env, identity)
    # the schema does not mark api_key secret: that it was encrypted is enough to hide it
    schema = {
        "type": "object",
        "properties": {
            "credentials": {
                "type": "object",
                "properties": {"api_key": {"type": "string", "pattern": "^sk_"}, "title": {"type": "string"}},
            },
            "per_session": {"type": "integer", "minimum": 2},
        },
    }
    _with_env(cat, {"FAKE_CONFIG_SCHEMA": json.dumps(schema)})
    res = run_flowctl(
        "preview", "--source", str(cat.path), env={**hermetic_env, "SOPS_AGE_KEY": str(identity)}
    )
    assert res.code == 1
    assert f"endpoint config (from {tmp_path / 'config.yaml'}) does not match" in res.stderr
    assert "/captures/acmeCo~1source-fake/endpoint/local/config" in res.stderr
    assert 'at /credentials/api_key: <secret value> does not match "^sk_"' in res.stderr
    assert "at /per_session: 1 is less than the minimum of 2" in res.stderr  # not encrypted: shown
    assert "s3cret" not in res.stderr + res.stdout
    assert cat.requests("validate") == [] and cat.requests("open") == []
