"""The `connector` command of every connector (`connector = "source_x:main"`).

Without arguments it serves the protocol on stdin/stdout, exactly like `python -m source_x`.
With a command it builds the protocol requests for the user, so a connector can be tried
without writing protocol JSON by hand, and prints the responses as JSON lines:

    connector spec
    connector discover [--config config.yaml]
    connector validate [--config config.yaml] [--bindings a,b] [--backfill N]
    connector open     [--config config.yaml] [--state state.json] [--bindings a,b] [--backfill N]

`validate` and `open` use every discovered binding unless `--bindings` names some. A config with
a top-level `sops` key is decrypted with the `sops` binary first.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import shutil
import subprocess
import sys
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import orjson
import pydantic
import yaml
from pydantic import BaseModel

from . import BaseConnector, ConnectorError
from .capture.base_capture_connector import BaseCaptureConnector

__all__ = ["CliError", "encode_state_key", "load_config", "main"]

_STATE_KEY_SAFE = frozenset("-_+.=")
_ACK_POLL_SECONDS = 0.05
_SOPS_SUFFIX = "_sops"


class CliError(ConnectorError):
    """A problem with the command line or its input files, reported as one line."""


def encode_state_key(resource_path: list[str], backfill: int = 0) -> str:
    """The `stateKey` Flow derives from a binding's resource path and backfill counter: the path
    joined with `/`, every character but Unicode letters/digits and `-_+.=` percent-encoded
    (UTF-8, uppercase hex), and `.v<backfill>` appended when the counter is not zero."""
    out: list[str] = []
    for ch in "/".join(resource_path):
        if ch.isalpha() or ch.isnumeric() or ch in _STATE_KEY_SAFE:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode())
    key = "".join(out)
    if backfill:
        key += f".v{backfill}"
    return key


def _strip_sops_suffix(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (k[: -len(_SOPS_SUFFIX)] if k.endswith(_SOPS_SUFFIX) else k): _strip_sops_suffix(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_strip_sops_suffix(v) for v in value]
    return value


def _to_json_value(value: Any) -> Any:
    """Normalize YAML scalars (dates, timestamps) to what the runtime would send: JSON."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS))


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is not valid YAML/JSON: {exc}") from None


def load_config(path: Path) -> dict[str, Any]:
    """Load an endpoint config file (YAML or JSON). A sops-encrypted file (top-level `sops` key)
    is decrypted with the `sops` binary, and the `_sops` suffix of encrypted keys is removed, as
    Flow does before handing the config to a connector."""
    value = _read_document(path)
    if not isinstance(value, dict):
        raise CliError(f"{path} must contain a mapping (the endpoint config)")
    if "sops" in value:
        sops = shutil.which("sops")
        if sops is None:
            raise CliError(
                f"{path} is sops-encrypted but the `sops` binary is not on PATH; install sops "
                "(https://github.com/getsops/sops) and make the decryption key available"
            )
        proc = subprocess.run(
            [sops, "--decrypt", "--output-type", "json", str(path)],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip().splitlines()
            raise CliError(
                f"sops could not decrypt {path}: {detail[-1] if detail else 'exit ' + str(proc.returncode)}"
            )
        value = _strip_sops_suffix(orjson.loads(proc.stdout))
    return dict(_to_json_value(value))


def _load_state(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    value = _read_document(path)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CliError(f"{path} must contain a JSON object (the connector state)")
    return dict(_to_json_value(value))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connector",
        description="Run a connector command and print the protocol responses as JSON lines. "
        "Without a command, serve the protocol on stdin/stdout.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec", help="print the connector's spec")
    for name, help_text in [
        ("discover", "discover the available bindings"),
        ("validate", "validate the config and bindings"),
        ("open", "run a capture session"),
    ]:
        cmd = commands.add_parser(name, help=help_text)
        cmd.add_argument("--config", type=Path, default=Path("config.yaml"), help="endpoint config file")
        if name == "discover":
            continue
        cmd.add_argument(
            "--bindings",
            action="append",
            default=[],
            metavar="NAMES",
            help="comma-separated recommended names of the discovered bindings to use (default: all)",
        )
        cmd.add_argument("--backfill", type=int, default=0, help="backfill counter of every binding")
        cmd.add_argument("--name", default=None, help="capture name (default: acmeCo/<connector>)")
        if name == "open":
            cmd.add_argument("--state", type=Path, default=None, help="connector state file (JSON/YAML)")
            cmd.add_argument("--interval", type=int, default=300, help="capture interval in seconds")
    return parser


def _capture_name(connector: BaseConnector[Any], given: str | None) -> str:
    if given:
        return given
    package = type(connector).__module__.split(".")[0].replace("_", "-")
    return f"acmeCo/{package}"


def _select_bindings(discovered: list[dict[str, Any]], selectors: list[str]) -> list[dict[str, Any]]:
    wanted = [name.strip() for arg in selectors for name in arg.split(",") if name.strip()]
    if not wanted:
        return discovered
    by_name = {b["recommendedName"]: b for b in discovered}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise CliError(f"unknown binding(s) {', '.join(unknown)}; discovered: {', '.join(by_name) or 'none'}")
    return [by_name[name] for name in wanted]


def _responses(buffer: io.BytesIO, kind: str) -> list[dict[str, Any]]:
    out = []
    for line in buffer.getvalue().splitlines():
        message = orjson.loads(line)
        if kind in message:
            out.append(message[kind])
    return out


class _Session:
    """Builds the request sequence of one command, reading the responses of earlier steps from an
    in-memory output before switching the connector to the real stdout for the final step."""

    def __init__(self, connector: BaseCaptureConnector[Any, Any, Any], args: argparse.Namespace) -> None:
        self.connector = connector
        self.args = args
        self.stdout = connector.output

    def _capture_output(self) -> io.BytesIO:
        buffer = io.BytesIO()
        self.connector.output = buffer
        return buffer

    def _request(self, cls: type[BaseModel], command: str, body: dict[str, Any]) -> Any:
        """Build the `command` request, turning a config the connector's model rejects into a
        one-line error that names the config file and each offending field."""
        try:
            return cls.model_validate({command: body})
        except pydantic.ValidationError as exc:
            problems: list[str] = []
            for err in exc.errors():
                loc = [str(p) for p in err.get("loc", ())]
                if loc[:2] == [command, "config"]:
                    loc = loc[2:]
                problems.append(f"{'.'.join(loc) or '(root)'}: {err.get('msg', 'invalid')}")
            where = f"{self.args.config}: " if getattr(self.args, "config", None) else ""
            raise CliError(f"{where}invalid configuration: {'; '.join(problems)}") from None

    async def requests(self, cls: type[BaseModel]) -> AsyncGenerator[Any, None]:
        args = self.args
        if args.command == "spec":
            yield self._request(cls, "spec", {"connectorType": "IMAGE", "config": {}})
            return

        config = load_config(args.config)
        if args.command == "discover":
            yield self._request(cls, "discover", {"connectorType": "IMAGE", "config": config})
            return

        buffer = self._capture_output()
        yield self._request(cls, "discover", {"connectorType": "IMAGE", "config": config})
        discovered = _responses(buffer, "discovered")
        if not discovered:
            raise CliError("the connector did not answer discover")
        chosen = _select_bindings(discovered[0].get("bindings", []), args.bindings)
        name = _capture_name(self.connector, args.name)
        prefix = name.rsplit("/", 1)[0]
        validate_bindings = [
            {
                "resourceConfig": b["resourceConfig"],
                "collection": {
                    "name": f"{prefix}/{b['recommendedName']}",
                    "key": b["key"],
                    "writeSchema": b["documentSchema"],
                },
                "backfill": args.backfill,
            }
            for b in chosen
        ]
        validate = {"name": name, "connectorType": "IMAGE", "config": config, "bindings": validate_bindings}

        if args.command == "validate":
            self.connector.output = self.stdout
            yield self._request(cls, "validate", validate)
            return

        buffer = self._capture_output()
        yield self._request(cls, "validate", validate)
        validated = _responses(buffer, "validated")
        if not validated:
            raise CliError("the connector did not answer validate")
        paths = [b["resourcePath"] for b in validated[0]["bindings"]]
        bindings = [
            {**vb, "resourcePath": path, "stateKey": encode_state_key(path, args.backfill)}
            for vb, path in zip(validate_bindings, paths, strict=True)
        ]
        open_request = {
            "capture": {
                "name": name,
                "connectorType": "IMAGE",
                "config": config,
                "intervalSeconds": args.interval,
                "bindings": bindings,
            },
            "version": "local",
            "range": {"keyBegin": 0, "keyEnd": 0xFFFFFFFF, "rClockBegin": 0, "rClockEnd": 0xFFFFFFFF},
            "state": _load_state(args.state),
        }
        self.connector.output = self.stdout
        yield self._request(cls, "open", open_request)

        # Acknowledge every checkpoint as soon as it is written, as the runtime would after
        # committing it. The session's end cancels this loop.
        while True:
            await asyncio.sleep(_ACK_POLL_SECONDS)
            transactor = self.connector._transactor
            if transactor is not None and transactor.requires_explicit_acks and transactor.pending_acks:
                yield self._request(cls, "acknowledge", {"checkpoints": transactor.pending_acks})


def main(connector: BaseConnector[Any], argv: list[str] | None = None) -> None:
    """Serve the protocol (no arguments) or run a connector command (see the module docstring)."""
    args_list = sys.argv[1:] if argv is None else argv
    if not args_list:
        asyncio.run(connector.serve())
        return
    args = _parser().parse_args(args_list)
    if not isinstance(connector, BaseCaptureConnector):
        raise SystemExit("connector commands need a capture connector (BaseCaptureConnector)")
    session = _Session(connector, args)

    async def run() -> None:
        await connector.serve(requests=session.requests)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        # Ctrl-C is how a user ends `connector open` on a capture that never finishes.
        raise SystemExit(130) from None
