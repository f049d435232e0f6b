"""Command line: `flowctl raw {spec,discover,validate,apply,bundle,combine}`, `flowctl preview` and `flowctl run`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from . import lifetime
from . import preview as _preview
from .build import build_capture
from .build_materialization import build_materialization
from .bundle import bundle
from .catalog import Catalog, load_catalog
from .config_check import check_endpoint_config
from .connector import launch_for, unary
from .crash_test import run_crash_test
from .discover import canonical_binding, canonical_spec, key_errors, write_discovered
from .durations import parse_duration
from .errors import ConnectorError, DocumentKeyError, FlowctlError, UsageError
from .keys import check_collection_key
from .logs import LogPrinter, OpsLog
from .materializations import Materialization
from .materialize_preview import RESPONSE_TIMEOUT_SECONDS, MaterializePreviewOptions, run_materialize_preview
from .pipeline import RunOptions, run_pipeline
from .session import Compiled
from .state_file import StateFile, file_argument, read_state_argument

EXIT_FAILURE = 1
EXIT_USAGE = 2

_RUN_DESCRIPTION = """\
Run a capture and the materializations of its collections together, through a durable local
data plane (one SQLite file in --state-dir, default .flowctl/ next to the catalog).

Each capture transaction's combined documents are appended to per-collection journals together
with the capture's state, in one SQLite transaction, before the connector is acknowledged. Each
materialization reads the journals after its checkpoint, combines what it read per binding,
and runs Load/Store/StartCommit; after StartedCommit its checkpoint
({"sources":{"<journal>;<read suffix>":{"readThrough":"<offset>"}}}) and connector state are
recorded (the destination's opened.runtimeCheckpoint overrides them on restart). Journal
entries every reader has materialized are pruned. The applied spec is kept, so the next run's
Validate/Apply carry lastMaterialization. Killing flowctl at any point and running it again
loses and doubles nothing.

Stops on SIGINT/SIGTERM or --timeout (transactions in flight finish, sessions end gracefully),
or with --until-caught-up once the capture's session has ended and everything is materialized.
Without --until-caught-up the capture restarts after its `interval`. Progress lines (one per
transaction) go to stderr, the summary to stdout.
"""

_CRASH_TEST_DESCRIPTION = """\
Prove that the capture loses nothing when it is killed (estuary-cdk's crash/resume harness,
run in the connector's Python). The capture runs once without interruption, then again from
the start, killed with SIGKILL --kills times (right after a checkpoint, in the middle of a
checkpoint sequence, after a random time, while blocked writing) and resumed each time from the
state of what it had committed, until it is caught up. It passes when the union of committed
documents has exactly the uninterrupted run's keys, no cursor went backwards and no committed
document was committed again (re-sending what a killed run had not committed is expected).

--target connector runs the connector process with the harness as its runtime; preview runs
`flowctl preview --initial-state @FILE --output-state @FILE --until-caught-up` and kills flowctl
itself (a connector that outlives it is reported). Prints kills survived and documents lost;
exit status 1 when anything was lost or repeated.
"""

_PREVIEW_EPILOG = """\
Transactions (what --sessions counts):
  The connector writes checkpoint sequences: documents, then a `checkpoint`. Documents are
  pending until their checkpoint is read. flowctl polls for ready checkpoints like the runtime:
  one transaction folds in EVERY sequence whose checkpoint has been read when the poll happens
  (at least one), combines their documents by collection key with the schema's `reduce`
  annotations, validates each combined document against the collection's write schema, prints
  the documents (ordered by binding, then key) and the reduced state patch, and acknowledges
  the checkpoints if the connector asked for explicit acknowledgements. With --delay D, flowctl
  sleeps D before each poll, so more sequences fold into one transaction (the sleep is cut
  short once the connector has exited: nothing more can fold in). Reading pauses while
  ~8 MiB of document JSON waits to be committed (memory is bounded by the transaction size).

Sessions:
  --sessions 2,-1 runs a session of 2 transactions, then one unbounded session. A session also
  ends when the connector exits between checkpoint sequences, or when --timeout passes with no
  new transaction. Each session restarts the connector (Apply, then Open with the reduced
  state). The catalog's `interval` is not waited for: Flow starts the next session no sooner
  than `interval` after the previous Open, preview restarts the connector at once. A connector
  may still wait on its own schedule: the kit polls a binding `interval` after its cursor or
  its last poll. Preview says so at INFO (session start, and after 5s without a transaction:
  each binding's next poll, and when the session ends).

Progress and the end (stderr; stdout keeps only documents and state lines):
  one line per transaction (documents per collection, checkpoints, the rate, and backfill
  progress as the state shows it: bindingStateV1.<stateKey>.backfill present = in progress),
  then a summary: documents per collection, checkpoints, transactions, sessions, elapsed time
  and each binding's final state. Ctrl-C or SIGTERM stops gracefully: no further transaction,
  then the final connectorState line (--output-state) and the summary; exit status 0.

Caught up (--until-caught-up):
  the run stops once (1) the reduced state shows no backfill in progress (after at least one
  transaction; state without bindingStateV1 backfills counts as none) and (2) since then the
  connector committed no document for --caught-up-idle (default 5s), or its session ended
  because it exited. That is all the protocol shows of "the incremental fetches came back
  empty": a poll that finds nothing writes no document (at most a state-only checkpoint).
  It stops within the --sessions given; a session ending without being caught up starts the
  next one, if any.

Materializations (--fixture FILE):
  The fixture's transactions (NDJSON `{"commit": true}` markers and `["<collection>", {doc}]`
  lines, or the legacy array form; `-` reads stdin) are materialized one by one: acknowledge,
  load, flush, store, startCommit with {"sources":{"fixture":{"readThrough":"<txn+1>"}}}. A
  session resumes after the connector's opened.runtimeCheckpoint (else flowctl's own) and
  --sessions counts transactions per session. --timeout bounds each wait for a response.
  Output: ["applied.actionDescription", ...] with --output-apply, one ["connectorState", ...]
  line per committed transaction with --output-state.

Output lines:
  ["<collection>",{document}]   _meta.uuid is DocUUIDPlaceholder-329Bb50aa48EAa9ef
  ["connectorState",{"updated":{...},"mergePatch":true}]   with --output-state, per transaction;
                                   the full reduced state ({"updated":{...}}) closes the run

Resuming (--initial-state @FILE, --output-state @FILE):
  --initial-state takes JSON or @FILE (a path works too): a state of any size. With a FILE,
  --output-state also keeps FILE holding the full reduced state of the last committed
  transaction (from the initial state on), replaced atomically after the transaction's lines
  are printed: killed at any moment, the run leaves a whole state, and
  `--initial-state @FILE --output-state @FILE` resumes from it (a transaction printed but not
  yet in FILE is redone, never skipped).
  ["applied.actionDescription", "..."]   with --output-apply, per session

Durations: 500ms, 10s, 1m, 1h30m (also ISO-8601 such as PT10S).
"""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _sessions(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --sessions {text!r}: expected integers such as 1 or 1,2,-1"
        ) from None
    if not values or any(v == 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"invalid --sessions {text!r}: each session needs a transaction count (negative = unlimited)"
        )
    return values


def _state(text: str) -> dict[str, Any]:
    try:
        return read_state_argument(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _state_file(args: argparse.Namespace) -> StateFile | None:
    """`--output-state FILE` (or `@FILE`): the file to keep the reduced state in."""
    value = args.output_state
    if not isinstance(value, str):
        return None
    state_file = StateFile(file_argument(value))
    state_file.check_writable()
    return state_file


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="flowctl",
        description="Local Flow runtime: runs capture and materialization connectors the way Estuary Flow does.",
        epilog=_PREVIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)

    pv = commands.add_parser(
        "preview",
        help="run a capture and print its combined documents",
        description="Build the capture (Spec, Validate), then run sessions (Apply, Open) and print committed transactions.",
        epilog=_PREVIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pv.add_argument("--source", required=True, help="catalog file (flow.yaml / test.flow.yaml)")
    pv.add_argument("--name", help="capture to run (required when the catalog has several)")
    pv.add_argument(
        "--sessions",
        type=_sessions,
        default=[-1],
        help="transactions per session, e.g. 1 or 2,-1 (negative = unlimited)",
    )
    pv.add_argument(
        "--delay",
        type=_duration,
        default=0.0,
        help="sleep before each transaction poll (folds more checkpoints)",
    )
    pv.add_argument(
        "--timeout",
        type=_duration,
        default=None,
        help="end a session when no transaction happens for this long",
    )
    pv.add_argument(
        "--until-caught-up",
        action="store_true",
        help="stop once every backfill is done and the connector commits no more documents "
        "(see 'Caught up' below)",
    )
    pv.add_argument(
        "--caught-up-idle",
        type=_duration,
        default=5.0,
        help="with --until-caught-up: how long without a document counts as caught up (default 5s)",
    )
    pv.add_argument(
        "--initial-state",
        type=_state,
        default={},
        metavar="JSON|@FILE",
        help="connector state for the first session: JSON, or @FILE (a path of an existing file "
        "works too) for a state too large for the command line",
    )
    pv.add_argument(
        "--output-state",
        nargs="?",
        const=True,
        default=False,
        metavar="@FILE",
        help="print connectorState lines; with FILE (@FILE or a path) also keep FILE holding the "
        "full reduced state of the last committed transaction, replaced atomically, so "
        "--initial-state @FILE resumes from it however the run ended",
    )
    pv.add_argument("--output-apply", action="store_true", help="print applied.actionDescription lines")
    pv.add_argument("--log-json", action="store_true", help="print logs as canonical JSON ops logs")
    pv.add_argument(
        "--network",
        help="network of image connectors' containers: docker/podman --network (default bridge); "
        "with buildah host (default) or none",
    )
    pv.add_argument(
        "--fixture",
        help="materializations: a fixture file of transactions to materialize (NDJSON or the legacy "
        "array form; `-` reads stdin); --timeout then bounds each wait for a connector response",
    )

    rn = commands.add_parser(
        "run",
        help="run a capture and the materializations of its collections together (a local pipeline)",
        description=_RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rn.add_argument("--source", required=True, help="catalog file")
    rn.add_argument("--capture", help="the capture to run (when the catalog has several)")
    rn.add_argument(
        "--materialization",
        action="append",
        default=[],
        help="a materialization to run (repeatable; default: every one reading the capture's collections)",
    )
    rn.add_argument("--state-dir", help="where the data plane lives (default: .flowctl next to the catalog)")
    rn.add_argument(
        "--until-caught-up",
        action="store_true",
        help="stop once the capture's session has ended and every captured document is materialized",
    )
    rn.add_argument("--timeout", type=_duration, default=None, help="stop gracefully after this long")
    rn.add_argument(
        "--response-timeout",
        type=_duration,
        default=None,
        help="fail when a materialization connector does not answer for this long (default 5m)",
    )
    rn.add_argument("--log-json", action="store_true", help="print logs as canonical JSON ops logs")
    rn.add_argument(
        "--network",
        help="network of image connectors' containers: docker/podman --network (default bridge); "
        "with buildah host (default) or none",
    )

    ct = commands.add_parser(
        "crash-test",
        help="kill a capture with SIGKILL at many points, resume it each time, check nothing is lost",
        description=_CRASH_TEST_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ct.add_argument("--source", required=True, help="catalog file (test.flow.yaml)")
    ct.add_argument("--name", help="capture to test (required when the catalog has several)")
    ct.add_argument("--kills", type=int, default=10, help="how many kills (default 10)")
    ct.add_argument("--seed", type=int, default=0, help="seed of the kill positions (default 0)")
    ct.add_argument(
        "--target",
        choices=("connector", "preview", "both"),
        default="both",
        help="kill the connector process (flowctl's harness as its runtime), flowctl preview, or both",
    )
    ct.add_argument(
        "--caught-up-idle",
        type=_duration,
        default=2.0,
        help="how long without a document counts as caught up (default 2s)",
    )
    ct.add_argument("--timeout", type=_duration, default=300.0, help="bound of each run (default 5m)")
    ct.add_argument("--json", action="store_true", help="print the figures as JSON, one object per target")

    raw = commands.add_parser("raw", help="low-level commands").add_subparsers(dest="raw", required=True)
    for name, text in (
        ("spec", "print the connector's Spec response"),
        ("discover", "discover bindings and write them into the catalog"),
        ("validate", "run the build (Spec + Validate) and print the Validated response"),
        ("apply", "build, then Apply, and print the Applied response"),
        ("bundle", "print the catalog with every reference inlined"),
        ("combine", "combine JSON documents from stdin by a collection's key and reduce annotations"),
    ):
        p = raw.add_parser(name, help=text, description=text)
        p.add_argument("--source", required=True, help="catalog file")
        if name == "combine":
            p.add_argument("--collection", required=True, help="collection whose key and schema to use")
        elif name != "bundle":
            p.add_argument("--capture", help="capture name (when the catalog has several tasks)")
            if name != "discover":
                p.add_argument(
                    "--materialization", help="materialization name (when the catalog has several tasks)"
                )
            p.add_argument("--log-json", action="store_true", help="print logs as canonical JSON ops logs")
            p.add_argument("--network", help="network of image connectors' containers (see preview --help)")
        if name == "discover":
            p.add_argument("-o", "--output", choices=("json", "yaml", "table"), default="table")
            p.add_argument(
                "--emit-raw",
                action="store_true",
                help="print the raw discovered bindings instead of updating the catalog",
            )
    return root


async def _run(catalog: Catalog, args: argparse.Namespace, log: Callable[[OpsLog], None]) -> None:
    options = RunOptions(
        capture=args.capture,
        materializations=args.materialization,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        until_caught_up=args.until_caught_up,
        timeout=args.timeout,
        response_timeout=args.response_timeout or RESPONSE_TIMEOUT_SECONDS,
        network=args.network,
    )
    stats = await run_pipeline(catalog, options, log)
    sys.stdout.write("".join(line + "\n" for line in stats.summary()))
    sys.stdout.flush()


def _out(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value) + b"\n")
    sys.stdout.flush()


async def _spec(catalog: Catalog, args: argparse.Namespace, log: Callable[[OpsLog], None]) -> None:
    task = catalog.task(args.capture, args.materialization)
    launch = await launch_for(task, args.network)
    spec, _ = await unary(launch, None, "spec", log, spec_config=task.endpoint.config)
    _out(canonical_spec(spec))


async def _discover(catalog: Catalog, args: argparse.Namespace, log: Callable[[OpsLog], None]) -> None:
    capture = catalog.capture(args.capture)
    launch = await launch_for(capture, args.network)
    request = {
        "discover": {
            "connectorType": launch.connector_type,
            "config": capture.endpoint.config,
            "name": capture.name,
        }
    }
    spec, response = await unary(
        launch, request, "discovered", log, check=lambda spec: check_endpoint_config(capture, spec)
    )
    discovered = response.get("discovered")
    bindings = discovered.get("bindings") if isinstance(discovered, dict) else None
    if not isinstance(bindings, list) or not all(isinstance(b, dict) for b in bindings):
        raise ConnectorError(
            f"connector protocol error (expected Discovered.bindings): {orjson.dumps(response).decode()}"
        )
    if args.emit_raw:
        # Raw output is the connector's own answer; its key problems are still worth a warning.
        for problem in key_errors(catalog, capture, bindings):
            sys.stderr.write(f"warning: {problem}\n")
    else:
        files, removed = write_discovered(catalog, capture, spec, bindings)
        sys.stderr.write("".join(f"{line}\n" for line in removed))
        sys.stderr.write("".join(f"wrote {f}\n" for f in files))
    if args.output == "json" or args.emit_raw:
        for b in bindings:
            _out(canonical_binding(b))
    else:
        for b in bindings:
            sys.stdout.write(
                f"{b.get('recommendedName', '')}\t{orjson.dumps(b.get('resourceConfig')).decode()}\t{orjson.dumps(b.get('key')).decode()}\n"
            )


async def _validate(catalog: Catalog, args: argparse.Namespace, log: Callable[[OpsLog], None]) -> None:
    task = catalog.task(args.capture, args.materialization)
    launch = await launch_for(task, args.network)
    if isinstance(task, Materialization):
        built_m = await build_materialization(catalog, task, launch, log)
        _out(built_m.validated)  # as the connector wrote it, once the build accepted it
        return
    built = await build_capture(catalog, task, launch, log)
    _out({"validated": {"bindings": [{"resourcePath": b.resource_path} for b in built.bindings]}})


async def _apply(catalog: Catalog, args: argparse.Namespace, log: Callable[[OpsLog], None]) -> None:
    task = catalog.task(args.capture, args.materialization)
    launch = await launch_for(task, args.network)
    if isinstance(task, Materialization):
        built_m = await build_materialization(catalog, task, launch, log)
        request = {"apply": {"materialization": built_m.spec, "version": built_m.version}}
    else:
        built = await build_capture(catalog, task, launch, log)
        request = {"apply": {"capture": built.capture_spec, "version": built.version}}
    _, applied = await unary(launch, request, "applied", log)
    _out(applied)


async def _run_preview(catalog: Catalog, args: argparse.Namespace, log: Callable[[OpsLog], None]) -> None:
    if args.fixture is not None:
        if args.delay:
            raise UsageError("--delay cannot be combined with --fixture")
        if args.until_caught_up:
            raise UsageError("--until-caught-up is for captures: a --fixture run ends with its fixture")
        materialization = catalog.materialization(args.name)
        fixture_options = MaterializePreviewOptions(
            fixture=args.fixture,
            sessions=args.sessions,
            timeout=args.timeout,
            initial_state=args.initial_state,
            output_state=bool(args.output_state),
            output_apply=args.output_apply,
            network=args.network,
            state_file=_state_file(args),
        )
        await run_materialize_preview(catalog, materialization, fixture_options, log)
        return
    options = _preview.PreviewOptions(
        sessions=args.sessions,
        delay=args.delay,
        timeout=args.timeout,
        initial_state=args.initial_state,
        output_state=bool(args.output_state),
        output_apply=args.output_apply,
        network=args.network,
        state_file=_state_file(args),
        until_caught_up=args.until_caught_up,
        caught_up_idle=args.caught_up_idle,
    )
    await _preview.run_preview(catalog, catalog.capture(args.name), options, log)


def _combine(catalog: Catalog, name: str) -> None:
    """`raw combine`: one JSON document per stdin line, combined like a capture transaction."""
    collection = catalog.collections.get(name)
    if collection is None:
        raise UsageError(f"collection {name!r} is not in the catalog {catalog.source}")
    check_collection_key(collection)
    combiner = Compiled.of(collection).combiner()
    for number, line in enumerate(sys.stdin.buffer, start=1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise UsageError(f"stdin line {number}: not JSON ({err})") from None
        if not isinstance(doc, dict):
            raise UsageError(f"stdin line {number}: a document must be a JSON object")
        try:
            combiner.add(doc)
        except DocumentKeyError as err:
            raise err.at(f"the document of stdin line {number}") from None
    sys.stdout.buffer.write(
        b"".join(
            orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
            for doc in combiner.drain()
        )
    )
    sys.stdout.flush()


def _join_negative_values(argv: list[str]) -> list[str]:
    """Let `--sessions -1,2` through (argparse would take `-1,2` for an option)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--sessions" and i + 1 < len(argv) and argv[i + 1][:2].lstrip("-").isdigit():
            out.append(f"--sessions={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def run(argv: list[str] | None = None) -> int:
    """Entry point returning the exit code (tests call this)."""
    args = parser().parse_args(_join_negative_values(sys.argv[1:] if argv is None else argv))
    printer = LogPrinter(as_json=bool(getattr(args, "log_json", False)))
    try:
        catalog = load_catalog(args.source)
        if args.command == "raw" and args.raw == "bundle":
            _out(bundle(catalog))
            return 0
        if args.command == "raw" and args.raw == "combine":
            _combine(catalog, args.collection)
            return 0
        if args.command == "crash-test":
            return run_crash_test(
                catalog,
                catalog.capture(args.name),
                kills=args.kills,
                seed=args.seed,
                target=args.target,
                idle=args.caught_up_idle,
                timeout=args.timeout,
                as_json=args.json,
            )
        handlers: dict[
            str, Callable[[Catalog, argparse.Namespace, Callable[[OpsLog], None]], Coroutine[Any, Any, None]]
        ] = {
            "spec": _spec,
            "discover": _discover,
            "validate": _validate,
            "apply": _apply,
        }
        handler = {"preview": _run_preview, "run": _run}.get(args.command) or handlers[args.raw]
        lifetime.run(handler(catalog, args, printer))  # signals end the connectors too
        return 0
    except UsageError as err:
        sys.stderr.write(f"error: {err}\n")
        return EXIT_USAGE
    except FlowctlError as err:
        sys.stderr.write(f"error: {err}\n")
        last = getattr(err, "last_log", None)
        if last and last not in str(err):
            sys.stderr.write(f"connector's last error line: {last}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. `| head`): not an error of the run
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def main() -> None:
    sys.exit(run())
