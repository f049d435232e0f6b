"""The repository's TEST-ONLY age key, and what sops' errors mean for the user.

Configs encrypted to the TEST-ONLY recipient (`make encrypt-config` without AGE_RECIPIENT) hold
fake values by design, and its identity is committed (tools/sops/test-age-key.txt): flowctl and
the tools add that identity to sops' `SOPS_AGE_KEY` for exactly those files, so tests and
previews need no setup. Files encrypted to any other recipient get nothing: their keys come from
the user's environment as before (sops combines `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, ...).

Standard library only: tools/sops_config.py, which runs in the tools' virtualenv, imports it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TEST_KEY_FILE = Path(__file__).resolve().parents[2] / "tools" / "sops" / "test-age-key.txt"
_KMS_KINDS = ("kms", "gcp_kms", "azure_kv", "hc_vault", "pgp")


def fixture_identity(path: Path = TEST_KEY_FILE) -> tuple[str, str] | None:
    """(recipient, identity) of the TEST-ONLY key file, or None where it is not (an installed
    flowctl outside the repository)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    recipient = identity = ""
    for line in text.splitlines():
        if line.startswith("# public key:"):
            recipient = line.split(":", 1)[1].strip()
        elif line.startswith("AGE-SECRET-KEY-"):
            identity = line.strip()
    return (recipient, identity) if recipient and identity else None


def age_recipients(meta: Mapping[str, Any]) -> list[str]:
    """The age recipients a sops file is encrypted to (its `sops.age[].recipient`)."""
    entries = meta.get("age")
    if not isinstance(entries, list):
        return []
    return [str(e["recipient"]) for e in entries if isinstance(e, dict) and e.get("recipient")]


def uses_test_key(meta: Mapping[str, Any]) -> bool:
    test = fixture_identity()
    return test is not None and test[0] in age_recipients(meta)


def sops_environment(meta: Mapping[str, Any], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run sops with for a file with metadata `meta`: `base` (default: ours),
    plus the TEST-ONLY identity in SOPS_AGE_KEY when the file is encrypted to it."""
    env = dict(os.environ if base is None else base)
    test = fixture_identity()
    if test is not None and test[0] in age_recipients(meta):
        env["SOPS_AGE_KEY"] = "\n".join(k for k in (env.get("SOPS_AGE_KEY", ""), test[1]) if k)
    return env


def explain(detail: str, file: str, meta: Mapping[str, Any]) -> str:
    """What to do about sops' error `detail` for `file` (empty when there is nothing to add)."""
    lowered = detail.lower()
    if "mac mismatch" in lowered:
        key = " (with SOPS_AGE_KEY_FILE=tools/sops/test-age-key.txt)" if uses_test_key(meta) else ""
        return (
            f"the file was changed after it was encrypted (sops checks a MAC over every value, so a "
            f"hand edit breaks it): edit encrypted files with `sops edit {file}`{key}, or restore it "
            "and decrypt, edit and encrypt it again (make decrypt-config / make encrypt-config)"
        )
    if "data key" in lowered or "no identity" in lowered or "did not match any of the recipients" in lowered:
        recipients = age_recipients(meta)
        parts = []
        if recipients:
            parts.append(
                f"it is encrypted to age recipient {', '.join(recipients)}: set SOPS_AGE_KEY_FILE (or "
                "SOPS_AGE_KEY) to that recipient's identity"
            )
        kinds = [k for k in _KMS_KINDS if meta.get(k)]
        if kinds:
            parts.append(f"or provide credentials for its {', '.join(kinds)} keys")
        return "no usable decryption key: " + (" ".join(parts) or "set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY")
    return ""
