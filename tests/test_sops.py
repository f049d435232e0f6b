"""Encrypted test configs end to end: `make encrypt-config` (sops + age, `_sops` fields) on a copy
of source-hello-world, then flowctl decrypts it with the TEST-ONLY fixture key."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sops_config
import yaml
from conftest import ROOT, connector_venv_bin, make, tool, tools_env

FIXTURE_KEY = ROOT / "tools" / "sops" / "test-age-key.txt"
FIXTURE_RECIPIENT = "age18mvwsyfxa34x4hxwflyyp5cv4rl9ptnvsq39g4sv7nm0f0ens40sl6yrd7"
SIGNING_KEY = "not-a-real-secret-but-treated-as-one"


@pytest.fixture
def hello_copy(tmp_path: Path) -> Path:
    """source-hello-world's catalog in a directory named like a connector (the .sops.yaml rule
    matches `source-*/config.yaml`), with a secret in its config."""
    target = tmp_path / "source-hello-world"
    target.mkdir()
    shutil.copy(ROOT / "source-hello-world" / "test.flow.yaml", target)
    shutil.copytree(ROOT / "source-hello-world" / "acmeCo", target / "acmeCo")
    config = yaml.safe_load((ROOT / "source-hello-world" / "config.yaml").read_text())
    config.update(rate=0, count=12, history=2, signing_key=SIGNING_KEY)
    (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def encrypt(directory: Path) -> subprocess.CompletedProcess[str]:
    venv = ROOT / "source-hello-world" / ".venv"
    return subprocess.run(
        [
            tool("python"),
            str(ROOT / "tools" / "sops_config.py"),
            "encrypt",
            str(directory),
            "--venv",
            str(venv),
        ],
        capture_output=True,
        text=True,
        env=tools_env(),
        timeout=300,
    )


def flowctl(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = tools_env(**env)
    full_env["PATH"] = f"{connector_venv_bin('source-hello-world')}{os.pathsep}{full_env['PATH']}"
    return subprocess.run(
        ["flowctl", *args, "--source", str(directory / "test.flow.yaml")],
        cwd=directory,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


def test_secret_fields_come_from_the_schema() -> None:
    schema = {
        "properties": {"token": {"type": "string", "secret": True}, "name": {"type": "string"}},
        "$defs": {"Creds": {"properties": {"client_secret": {"secret": True}, "client_id": {}}}},
    }
    assert sops_config.secret_fields(schema) == {"token", "client_secret"}
    marked, renamed = sops_config.mark_secrets(
        {"token": "t", "creds": {"client_secret": "s", "client_id": "i"}}, {"token", "client_secret"}
    )
    assert marked == {"token_sops": "t", "creds": {"client_secret_sops": "s", "client_id": "i"}}
    assert renamed == ["/token", "/creds/client_secret"]


def test_encrypt_then_flowctl_decrypts_with_the_fixture_key(hello_copy: Path, tmp_path: Path) -> None:
    proc = encrypt(hello_copy)
    assert proc.returncode == 0, proc.stderr
    assert "/signing_key" in proc.stdout

    text = (hello_copy / "config.yaml").read_text()
    assert SIGNING_KEY not in text
    encrypted = yaml.safe_load(text)
    assert encrypted["signing_key_sops"].startswith("ENC[AES256_GCM,")
    assert encrypted["greeting"] == "Hello"  # non-secret fields stay readable
    assert encrypted["sops"]["encrypted_suffix"] == "_sops"
    assert [a["recipient"] for a in encrypted["sops"]["age"]] == [FIXTURE_RECIPIENT]

    spec = flowctl(hello_copy, "raw", "spec", SOPS_AGE_KEY_FILE=str(FIXTURE_KEY))
    assert spec.returncode == 0, spec.stderr
    assert (
        json.loads(spec.stdout.splitlines()[0])["configSchema"]["properties"]["signing_key"]["secret"] is True
    )

    preview = flowctl(
        hello_copy, "preview", "--sessions", "-1", "--timeout", "120s", SOPS_AGE_KEY_FILE=str(FIXTURE_KEY)
    )
    assert preview.returncode == 0, preview.stderr
    greetings = [
        doc for name, doc in map(json.loads, preview.stdout.splitlines()) if name == "acmeCo/greetings"
    ]
    assert sorted(d["id"] for d in greetings) == list(range(1, 13))
    for doc in greetings:
        # The connector saw the decrypted key under its own name (suffix stripped by flowctl).
        assert (
            doc["signature"]
            == hmac.new(SIGNING_KEY.encode(), doc["message"].encode(), hashlib.sha256).hexdigest()
        )

    # Encrypted to the TEST-ONLY key, the config needs no key setup at all (issue 12, item 7).
    home = tmp_path / "home"
    home.mkdir()
    keyless = dict(
        SOPS_AGE_KEY_FILE="", SOPS_AGE_KEY="", HOME=str(home), XDG_CONFIG_HOME=str(home / ".config")
    )
    spec = flowctl(hello_copy, "raw", "spec", **keyless)
    assert spec.returncode == 0, spec.stderr


def test_a_config_encrypted_to_another_key_is_not_decrypted_with_the_test_key(
    hello_copy: Path, tmp_path: Path
) -> None:
    other = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"  # nobody here has its key
    proc = subprocess.run(
        [
            tool("python"),
            str(ROOT / "tools" / "sops_config.py"),
            "encrypt",
            str(hello_copy),
            "--fields",
            "signing_key",
        ],
        capture_output=True,
        text=True,
        env=tools_env(AGE_RECIPIENT=other),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    home = tmp_path / "home"
    home.mkdir()
    keyless = flowctl(
        hello_copy,
        "raw",
        "spec",
        SOPS_AGE_KEY_FILE="",
        SOPS_AGE_KEY="",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
    )
    assert keyless.returncode != 0
    assert "sops could not decrypt the config" in keyless.stderr
    assert f"fix: no usable decryption key: it is encrypted to age recipient {other}" in keyless.stderr
    assert keyless.stdout.strip() == ""


def test_decrypt_round_trip_and_refusing_to_encrypt_twice(hello_copy: Path) -> None:
    assert encrypt(hello_copy).returncode == 0
    again = encrypt(hello_copy)
    assert again.returncode == 2
    assert "already sops-encrypted" in again.stderr

    proc = subprocess.run(
        [tool("python"), str(ROOT / "tools" / "sops_config.py"), "decrypt", str(hello_copy)],
        capture_output=True,
        text=True,
        env=tools_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    # Usable as a config: the connector's own field names, no sops metadata.
    decrypted = yaml.safe_load(proc.stdout)
    assert decrypted["signing_key"] == SIGNING_KEY
    assert "signing_key_sops" not in decrypted and "sops" not in decrypted
    assert decrypted["greeting"] == "Hello"


def test_make_encrypt_config_needs_a_known_connector() -> None:
    for args, message in (
        (["CONNECTOR="], "name a connector"),
        (["CONNECTOR=source-nope"], "no connector directory"),
    ):
        proc = make("encrypt-config", *args)
        assert proc.returncode != 0
        assert message in proc.stderr


def test_config_without_secrets_is_refused(hello_copy: Path) -> None:
    config = yaml.safe_load((hello_copy / "config.yaml").read_text())
    del config["signing_key"]
    (hello_copy / "config.yaml").write_text(yaml.safe_dump(config))
    proc = encrypt(hello_copy)
    assert proc.returncode == 2
    assert "no secret fields" in proc.stderr
    assert "sops" not in yaml.safe_load((hello_copy / "config.yaml").read_text())
