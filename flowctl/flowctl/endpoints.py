"""Task endpoints (flow-protocol §1.4): a local command or a connector image, with the
connector's config, loaded from its file when it is a reference and sops-decrypted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import sops
from .errors import CatalogError

# load_ref(ref, base, referrer, location) -> (value, path, raw bytes), see catalog._Loader.
LoadRef = Callable[[str, Path, str, str], tuple[Any, Path, bytes]]


@dataclass
class Endpoint:
    kind: Literal["local", "image"]
    config: dict[str, Any]
    command: list[str] = field(default_factory=list)
    image: str = ""
    env: dict[str, str] = field(default_factory=dict)
    protobuf: bool = False
    config_file: str | None = None
    # Names of config keys that were sops-encrypted (their values are secrets); None: all were.
    encrypted_names: frozenset[str] | None = frozenset()


def parse_endpoint(spec: Any, path: Path, loc: str, load_ref: LoadRef) -> Endpoint:
    """An `endpoint` (`local` or `connector`) with its config loaded and decrypted."""
    file = str(path)
    if isinstance(spec, dict) and "dekaf" in spec:
        raise CatalogError(file, loc + "/dekaf", "Dekaf endpoints are not supported by this flowctl")
    if not isinstance(spec, dict) or len(spec) != 1 or not ({"local", "connector"} & spec.keys()):
        raise CatalogError(file, loc, "`endpoint` must have exactly one of `local` or `connector`")
    if "local" in spec:
        local = spec["local"]
        if not isinstance(local, dict):
            raise CatalogError(file, loc + "/local", "`local` must be a mapping with `command` and `config`")
        command = local.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
            raise CatalogError(file, loc + "/local/command", "`command` must be a non-empty list of strings")
        env = local.get("env") or {}
        if not isinstance(env, dict):
            raise CatalogError(file, loc + "/local/env", "`env` must be a mapping of names to strings")
        config, config_file, encrypted = _config(
            local.get("config", {}), path, loc + "/local/config", load_ref
        )
        if local.get("protobuf"):
            raise CatalogError(
                file,
                loc + "/local/protobuf",
                "the protobuf codec is not supported; connectors must speak JSON lines",
            )
        return Endpoint(
            "local",
            config,
            command=list(command),
            env={str(k): str(v) for k, v in env.items()},
            config_file=config_file,
            encrypted_names=encrypted,
        )
    conn = spec["connector"]
    if not isinstance(conn, dict) or not isinstance(conn.get("image"), str):
        raise CatalogError(
            file, loc + "/connector", "`connector` must be a mapping with `image` and `config`"
        )
    config, config_file, encrypted = _config(
        conn.get("config", {}), path, loc + "/connector/config", load_ref
    )
    return Endpoint("image", config, image=conn["image"], config_file=config_file, encrypted_names=encrypted)


def _config(
    value: Any, path: Path, loc: str, load_ref: LoadRef
) -> tuple[dict[str, Any], str | None, frozenset[str] | None]:
    """The endpoint config (decrypted), its file if it has one, and the names of its keys
    that were encrypted (None: every value was)."""
    file = str(path)
    config_file: str | None = None
    raw: bytes | None = None
    if isinstance(value, str):
        value, cpath, raw = load_ref(value, path, file, loc)
        config_file = str(cpath)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise CatalogError(
            config_file or file, "" if config_file else loc, "the endpoint config must be an object"
        )
    encrypted: frozenset[str] | None = frozenset()
    if sops.is_sops_document(value):
        encrypted = sops.encrypted_names(value)
        value = sops.decrypt(value, config_file or f"{file}#{loc}", raw)
    return value, config_file, encrypted
