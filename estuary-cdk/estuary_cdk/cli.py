"""The `connector` command of every connector (`connector = "source_x:main"`).

Without arguments it serves the protocol on stdin/stdout, exactly like `python -m source_x`.
With a command it builds the protocol requests for the user, so a connector can be tried
without writing protocol JSON by hand, and prints the responses as JSON lines:

    connector spec
    connector discover [--config config.yaml]
    connector validate [--config config.yaml] [--bindings a,b] [--backfill N]
    connector open     [--config config.yaml] [--state state.json] [--bindings a,b] [--backfill N]

`validate` and `open` use every discovered binding unless `--bindings` names some. A
materialization answers `spec` here; its other requests need a catalog (`flowctl raw
validate|apply`, `flowctl preview --fixture`).

The connector runs in this process but is driven like the runtime drives it: its responses go
through a pipe that this command reads, so the answers of earlier steps (discover, validate)
shape the next request and checkpoints are acknowledged as they arrive. Sops decryption and
state keys are flowctl's (a dev dependency of every connector): one implementation of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import orjson
import pydantic
from pydantic import BaseModel

from . import BaseConnector
from ._config_errors import masked_message
from ._errors import ConnectorError
from ._input import LineSource, read_descriptor
from .capture.base_capture_connector import BaseCaptureConnector

__all__ = ["CliError", "encode_state_key", "load_config", "main"]

_RESPONSE_TIMEOUT_SECONDS = 600.0


class CliError(ConnectorError):
    """A problem with the command line or its input files, reported as one line."""


def _flowctl() -> Any:
    try:
        import flowctl.sops
        import flowctl.state_key
        import flowctl.yaml_load
    except ImportError:
        raise CliError(
            "connector commands need flowctl (a dev dependency of every connector: "
            'flowctl = {path = "../flowctl", develop = true}); run `poetry install` in the connector'
        ) from None
    return flowctl


def encode_state_key(resource_path: list[str], backfill: int = 0) -> str:
    """The `stateKey` Flow derives from a binding's resource path and backfill counter
    (flowctl's implementation)."""
    key: str = _flowctl().state_key.encode_state_key(resource_path, backfill)
    return key


def _to_json_value(value: Any) -> Any:
    """Normalize YAML scalars (dates, timestamps) to what the runtime would send: JSON."""
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS))


def _read_document(path: Path) -> tuple[Any, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    yaml_load = _flowctl().yaml_load
    try:
        # flowctl's strict loader: a duplicate key is refused, and an error never quotes the
        # text of its line (in a config it may hold a secret).
        return yaml_load.load_yaml(raw), raw
    except yaml_load.SourceSyntaxError as exc:
        raise CliError(f"{path} is not valid YAML/JSON: {exc}") from None


def load_config(path: Path) -> dict[str, Any]:
    """Load an endpoint config file (YAML or JSON). A sops-encrypted file is decrypted and its
    encrypted suffix removed from keys, as Flow does before handing the config to a connector
    (with flowctl's sops support, which honours the file's `encrypted_suffix`)."""
    value, raw = _read_document(path)
    if not isinstance(value, dict):
        raise CliError(f"{path} must contain a mapping (the endpoint config)")
    sops = _flowctl().sops
    if sops.is_sops_document(value):
        try:
            value = sops.decrypt(value, str(path), raw)
        except Exception as exc:  # flowctl's SopsError: its message is the whole reason
            raise CliError(str(exc)) from None
    return dict(_to_json_value(value))


def _load_state(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    value, _ = _read_document(path)
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


class _Driver:
    """Plays the runtime for one command: sends the requests, reads the connector's responses
    from the pipe its output goes to, prints those of the final step, and acknowledges each
    checkpoint once it was read (as the runtime does after committing it)."""

    def __init__(self, connector: BaseConnector[Any], args: argparse.Namespace) -> None:
        self.connector = connector
        self.args = args
        read_fd, write_fd = os.pipe()
        self._read_fd = read_fd
        connector.output = os.fdopen(write_fd, "wb", buffering=0)
        self._forward = False
        self._responses: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._acks: asyncio.Queue[int] = asyncio.Queue()
        self._explicit_acks = False

    async def pump(self) -> None:
        """Read every response line until the connector's output closes."""
        source = LineSource(read_descriptor(self._read_fd))
        stdout = sys.stdout.buffer
        while (batch := await source.next_batch()) is not None:
            for line in batch:
                if not line.strip():
                    continue
                if self._forward:
                    stdout.write(line + b"\n")
                message = orjson.loads(line)
                if "opened" in message:
                    self._explicit_acks = bool(message["opened"].get("explicitAcknowledgements"))
                elif "checkpoint" in message:
                    if self._explicit_acks:
                        self._acks.put_nowait(1)
                elif not {"captured", "sourcedSchema"} & message.keys():
                    self._responses.put_nowait(message)
            stdout.flush()
        os.close(self._read_fd)

    def close_output(self) -> None:
        self.connector.output.close()

    async def _response(self, kind: str) -> dict[str, Any]:
        try:
            message = await asyncio.wait_for(self._responses.get(), _RESPONSE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise CliError(
                f"the connector did not answer {kind} within {_RESPONSE_TIMEOUT_SECONDS:.0f}s"
            ) from None
        key = kind + "ed" if not kind.endswith("e") else kind + "d"
        if key not in message:
            raise CliError(f"the connector answered {kind} with {orjson.dumps(message).decode()[:500]}")
        body: dict[str, Any] = message[key]
        return body

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
                problems.append(f"{'.'.join(loc) or '(root)'}: {masked_message(err)}")
            where = f"{self.args.config}: " if getattr(self.args, "config", None) else ""
            raise CliError(f"{where}invalid configuration: {'; '.join(problems)}") from None

    async def requests(self, cls: type[BaseModel]) -> AsyncGenerator[Any, None]:
        args = self.args
        if args.command == "spec":
            self._forward = True
            yield self._request(cls, "spec", {"connectorType": "IMAGE", "config": {}})
            return

        config = load_config(args.config)
        discover = self._request(cls, "discover", {"connectorType": "IMAGE", "config": config})
        if args.command == "discover":
            self._forward = True
            yield discover
            return

        yield discover
        discovered = await self._response("discover")
        chosen = _select_bindings(discovered.get("bindings", []), args.bindings)
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
            self._forward = True
            yield self._request(cls, "validate", validate)
            return

        yield self._request(cls, "validate", validate)
        validated = await self._response("validate")
        paths = [b["resourcePath"] for b in validated["bindings"]]
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
        self._forward = True
        yield self._request(cls, "open", open_request)
        # Acknowledge every checkpoint once read; the session's end cancels this loop.
        while True:
            count = await self._acks.get()
            while not self._acks.empty():
                count += self._acks.get_nowait()
            yield self._request(cls, "acknowledge", {"checkpoints": count})


def main(connector: BaseConnector[Any], argv: list[str] | None = None) -> None:
    """Serve the protocol (no arguments) or run a connector command (see the module docstring)."""
    args_list = sys.argv[1:] if argv is None else argv
    if not args_list:
        asyncio.run(connector.serve())
        return
    args = _parser().parse_args(args_list)
    if not isinstance(connector, BaseCaptureConnector) and args.command != "spec":
        raise SystemExit(
            f"`connector {args.command}` drives captures; for a materialization use flowctl with a catalog: "
            "`flowctl raw validate|apply --source flow.yaml --materialization NAME`, or "
            "`flowctl preview --source flow.yaml --name NAME --fixture fixture.json`"
        )

    async def run() -> None:
        driver = _Driver(connector, args)
        pump = asyncio.create_task(driver.pump())
        try:
            await connector.serve(requests=driver.requests)
        finally:
            driver.close_output()
            await pump

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        # Ctrl-C is how a user ends `connector open` on a capture that never finishes.
        raise SystemExit(130) from None
