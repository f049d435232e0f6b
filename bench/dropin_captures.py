"""Drop-in captures: a dozen of Estuary's connectors each capture from a small local fake of their
vendor's API, once on the reference kit and once on ours, and must emit the same documents and
end in the same state (issue 11).

Kept outside the project's tests, like `bench/dropin_sweep.py` (whose installs it reuses: run
that first for the connectors wanted): each connector runs from `bench/.work/sweep/<kit>/<name>`
with its own venv, unchanged. Only its network is redirected, identically for both kits:

* its fake (`bench/dropin_fakes/<source_x>.py`: an aiohttp app with seeded data, the endpoints its
  bindings call, paged) serves TLS on a loopback port, with a certificate for the vendor's host
  names from a CA made at each run (`dropin_fakes/tls.py`), trusted through `SSL_CERT_FILE` and
  `REQUESTS_CA_BUNDLE`;
* `dropin_fakes/redirect/sitecustomize.py`, put on PYTHONPATH, resolves those names (and only
  those) to that port, so `https://api.vendor.com/...` reaches the fake unchanged.

For each connector: `discover` on the reference kit with the
fake's config (the bindings kept are the fake's `BINDINGS`, with the discovered keys and schemas),
`validate` (resource paths; on each kit, both must agree), then `open` on each kit against a fresh
fake (the same seeded data): the `captured` documents and `checkpoint` states are collected until
the connector has been quiet for `--idle` seconds after a checkpoint, neither writing nor calling
the fake (its data exhausted, it waits for its next interval), or `--limit` seconds (a fake's
`IDLE` / `LIMIT` override them), then it is sent SIGTERM (killed 15 s later). Explicit
acknowledgements are answered after each checkpoint when the connector asks for them; a fake's
`WEBHOOKS` are posted to the connector's webhook server (127.0.0.1:8080) after its first one.

Compared: per binding, the documents as parsed JSON, as a multiset (order-insensitive, as
bindings run concurrently; whether the order also matched is noted), the final state (the
checkpoints merged as the runtime does, RFC 7396), what the fake recorded (token requests, the
rotated config sent for encryption) and the webhook responses. The fakes' data is the same in
both runs, dated from one anchor fixed per invocation of this script (`ANCHOR`, its start to the
minute), so documents are compared exactly; only where they differ are they compared again with
every date-time within 7 days of the run's start replaced by `<now>` (reported as such). In the
states and recordings, two differing date-times (strings, or numbers as epoch seconds) count as
equal only when both lie within 7 days of their own run's start, at the same offset from it
within 2 minutes: the values a connector derives from "now" (a snapshot's `updated_at`,
`last_initialized`, a cursor at now minus a lag, a token's expiry). How many were so matched is
reported. A fake's `DROP_FIELDS` (document fields of a known, explained difference) are left out
of the comparison and counted.

With `--resume`, both kits are then opened once more, each against a fresh fake, from the state
the reference checkpointed (what a user switching kits resumes from; webhooks are not posted
again, and quiet may end these runs before any checkpoint), and those two runs are compared the
same way, no documents being a valid outcome.

Results: `bench/.work/captures/<connector>.json` (every message of both runs, the fake's request
log) and the table `bench/dropin_captures.md`.

    estuary-cdk/.venv/bin/python bench/dropin_captures.py [--only source-a,source-b] [--jobs 2]
        [--resume] [--idle 8] [--limit 120] [--table-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import json
import os
import re
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flowctl"))  # its RFC 7396 merge
from dropin_fakes.tls import make_ca_and_server
from dropin_sweep import WORK as SWEEP
from dropin_sweep import _kit_commit, last_error, module_of
from flowctl.merge_patch import apply_merge_patch

BENCH = Path(__file__).resolve().parent
OUT = BENCH / ".work" / "captures"
FAKES = BENCH / "dropin_fakes"
REDIRECT = FAKES / "redirect"
KITS = ("ref", "ours")
ANCHOR = datetime.now(UTC).replace(second=0, microsecond=0)
"""What the fakes date their data from: the same for both kits' runs of this invocation."""
RANGE = {"keyBegin": 0, "keyEnd": 0xFFFFFFFF, "rClockBegin": 0, "rClockEnd": 0xFFFFFFFF}


def fake_modules() -> list[str]:
    return sorted(p.stem for p in FAKES.glob("source_*.py"))


def load_fake(module: str) -> ModuleType:
    return importlib.import_module(f"dropin_fakes.{module}")


# --- running one connector process -------------------------------------------------------------


@dataclasses.dataclass
class Env:
    """What every connector process of one run shares: the redirect and the trusted CA."""

    ca: Path
    ssl: Any
    hosts: list[str]

    def for_port(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "DOCS_URL")}
        env.update(
            PYTHONPATH=str(REDIRECT),
            DROPIN_FAKE_HOSTS=json.dumps(dict.fromkeys(self.hosts, port)),
            SSL_CERT_FILE=str(self.ca),
            REQUESTS_CA_BUNDLE=str(self.ca),
            CURL_CA_BUNDLE=str(self.ca),
            PYTHONUNBUFFERED="1",
        )
        return env


class RequestLog(list[str]):
    """The fake's requests, and when it last saw one (a connector waiting on its rate limiter or
    on a slow page is not idle)."""

    last: float = 0.0
    recorded: list[Any]  # what the fake chose to record (`app["recorded"]`), compared too


@contextlib.asynccontextmanager
async def serving(fake: ModuleType, env: Env):
    """A fresh fake (its seeded data anew) on a loopback TLS port; yields (port, request log)."""
    app = fake.app(ANCHOR)
    requests = RequestLog()
    requests.recorded = app["recorded"] if "recorded" in app else []

    @web.middleware
    async def log_requests(request: web.Request, handler: Any) -> web.StreamResponse:
        requests.last = time.monotonic()
        try:
            response = await handler(request)
        except web.HTTPException as e:
            requests.append(f"{request.method} {request.host} {request.path_qs} -> {e.status}")
            raise
        finally:
            requests.last = time.monotonic()
        requests.append(f"{request.method} {request.host} {request.path_qs} -> {response.status}")
        return response

    app.middlewares.append(log_requests)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=env.ssl)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, requests
    finally:
        await runner.cleanup()


async def connector_process(cdir: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """`python -m source_x` from the connector's folder with its venv, as Flow runs it."""
    return await asyncio.create_subprocess_exec(
        str(cdir / ".venv" / "bin" / "python"),
        "-m",
        module_of(cdir),
        cwd=cdir,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )


async def one_shot(
    cdir: Path, env: dict[str, str], request: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """spec / discover / validate: one request, the connector answers and exits."""
    proc = await connector_process(cdir, env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(request).encode() + b"\n"), seconds)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return {
            "rc": "timeout",
            "messages": [],
            "error": f"no answer in {seconds:.0f}s",
            "stderr_tail": err[-4000:].decode(errors="replace"),
        }
    stderr = err.decode(errors="replace")
    return {
        "rc": proc.returncode,
        "messages": parse_lines(out),
        "error": last_error(stderr),
        "stderr_tail": stderr[-4000:],
    }


def parse_lines(out: bytes) -> list[Any]:
    messages = []
    for line in out.splitlines():
        with contextlib.suppress(ValueError):
            messages.append(json.loads(line))
    return messages


async def capture(
    cdir: Path,
    env: dict[str, str],
    open_request: dict[str, Any],
    idle: float,
    limit: float,
    fake_log: RequestLog,
    webhooks: list[tuple[str, Any]],
    quiet_after_open: bool = False,
) -> dict[str, Any]:
    """Runs `open` until the connector is quiet `idle` s after a checkpoint, neither writing nor
    calling the fake (or `limit` s, or it exits), answering acknowledgements; returns its
    messages, how it ended and its last error. `webhooks` (path, JSON body) are posted to the
    connector's own webhook server once it has checkpointed. `quiet_after_open`: quiet may end
    the run before any checkpoint (a resumed capture may have nothing to checkpoint)."""
    started = time.monotonic()
    proc = await connector_process(cdir, env)
    assert proc.stdin and proc.stdout and proc.stderr
    proc.stdin.write(json.dumps(open_request).encode() + b"\n")
    await proc.stdin.drain()
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    messages: list[Any] = []
    acks = False
    checkpointed = False
    posting: asyncio.Future[list[Any]] | None = None
    ended = "exited"
    last_line = started
    reading = asyncio.ensure_future(proc.stdout.readline())
    while True:
        now = time.monotonic()
        if now - started >= limit:
            ended = "time limit"
            break
        if checkpointed and now - max(last_line, fake_log.last) >= idle:
            ended = "quiet"
            break
        done, _ = await asyncio.wait([reading], timeout=0.5)
        if not done:
            continue
        line = reading.result()
        if not line:
            break
        last_line = time.monotonic()
        reading = asyncio.ensure_future(proc.stdout.readline())
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        messages.append(msg)
        if "opened" in msg:
            acks = bool(msg["opened"].get("explicitAcknowledgements"))
            checkpointed = checkpointed or quiet_after_open
        elif "checkpoint" in msg:
            if webhooks and not checkpointed:
                posting = asyncio.ensure_future(post_webhooks(webhooks, fake_log))
            checkpointed = True
            if acks:
                with contextlib.suppress(ConnectionError):
                    proc.stdin.write(b'{"acknowledge":{"checkpoints":1}}\n')
                    await proc.stdin.drain()
    if proc.returncode is None and ended != "exited":
        proc.send_signal(signal.SIGTERM)
    try:
        rest = b""
        if not reading.done() or reading.result():
            rest = await asyncio.wait_for(reading, 15) + await asyncio.wait_for(proc.stdout.read(), 15)
        await asyncio.wait_for(proc.wait(), 15)
        messages.extend(parse_lines(rest))
    except TimeoutError:
        proc.kill()
        await proc.wait()
        ended += ", killed"
    err = (await stderr_task).decode(errors="replace")
    return {
        "webhook_responses": await posting if posting else [],
        "ended": ended,
        "rc": proc.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "messages": messages,
        "error": last_error(err) if proc.returncode not in (0, -signal.SIGTERM) else "",
        "stderr_tail": err[-4000:],
    }


WEBHOOK_URL = "http://127.0.0.1:8080"
"""Where both kits' webhook servers listen by default."""


async def post_webhooks(webhooks: list[tuple[str, Any]], activity: RequestLog) -> list[Any]:
    """POSTs each (path, body) in turn, waiting up to 20 s for the server to come up; returns
    each response's status (or error)."""
    import aiohttp

    statuses: list[Any] = []
    async with aiohttp.ClientSession() as session:
        for path, body in webhooks:
            for _ in range(40):
                activity.last = time.monotonic()
                try:
                    async with session.post(f"{WEBHOOK_URL}{path}", json=body) as resp:
                        statuses.append(resp.status)
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.5)
            else:
                statuses.append("no webhook server")
    activity.last = time.monotonic()
    return statuses


# --- the protocol around open ------------------------------------------------------------------


def state_key(path: list[str]) -> str:
    """flow-protocol §2.6: components joined by `/`, anything but letters, digits and `-_+.=`
    percent-encoded (backfill 0, so no `.vN`)."""
    joined = "/".join(path)
    return "".join(
        c if c.isalnum() or c in "-_+.=" else "".join(f"%{b:02X}" for b in c.encode()) for c in joined
    )


def pick_bindings(discovered: list[dict[str, Any]], wanted: list[str] | None) -> list[dict[str, Any]]:
    by_name = {b["recommendedName"]: b for b in discovered}
    if wanted is None:
        return discovered
    missing = [w for w in wanted if w not in by_name]
    if missing:
        raise RuntimeError(f"not discovered: {missing} (discovered: {sorted(by_name)})")
    return [by_name[w] for w in wanted]


def collection(name: str, b: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"acmeCo/{b['recommendedName']}",
        "key": b.get("key") or ["/_meta/row_id"],
        "writeSchema": b.get("documentSchema") or {},
        "uuidPtr": "/_meta/uuid",
        "projections": [],
    }


def final_state(messages: list[Any]) -> Any:
    state: Any = {}
    for msg in messages:
        if "checkpoint" in msg:
            upd = msg["checkpoint"]["state"]
            state = apply_merge_patch(state, upd["updated"]) if upd.get("mergePatch") else upd["updated"]
    return state


# --- normalising "now" -------------------------------------------------------------------------

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
NEAR = 7 * 86400.0  # a date-time this close to its run's start (s) may be derived from "now"
SLACK = 120.0  # two such values are the same if their offsets from their runs' starts differ less


def _offset(value: Any, start: float) -> float | None:
    """`value`'s seconds from `start` if it is a date-time string within NEAR of it."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    offset = when.timestamp() - start
    return offset if abs(offset) < NEAR else None


def same_up_to_now(a: Any, b: Any, start_a: float, start_b: float, counter: list[int]) -> bool:
    """Equal as JSON, except that two differing date-times (strings, or numbers as epoch seconds)
    count as equal when each is within NEAR of its own run's start and at the same offset from it
    (within SLACK): e.g. a snapshot's `updated_at`, a cursor capped at now minus a lag. Counts
    those in `counter`."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_up_to_now(a[k], b[k], start_a, start_b, counter) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            same_up_to_now(x, y, start_a, start_b, counter) for x, y in zip(a, b, strict=True)
        )
    if a == b:
        return True
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        oa, ob = a - start_a, b - start_b  # epoch seconds
        if abs(oa) < NEAR and abs(ob) < NEAR and abs(oa - ob) < SLACK:
            counter[0] += 1
            return True
        return False
    oa, ob = _offset(a, start_a), _offset(b, start_b)
    if oa is not None and ob is not None and abs(oa - ob) < SLACK:
        counter[0] += 1
        return True
    return False


def blur_now(value: Any, start: float, counter: list[int]) -> Any:
    """`value` with every date-time within NEAR of `start` replaced by `<now>` (documents only,
    and only where they differ otherwise)."""
    if isinstance(value, dict):
        return {k: blur_now(v, start, counter) for k, v in value.items()}
    if isinstance(value, list):
        return [blur_now(v, start, counter) for v in value]
    if _offset(value, start) is not None:
        counter[0] += 1
        return "<now>"
    return value


# --- one connector ------------------------------------------------------------------------------


async def run_connector(module: str, env: Env, args: argparse.Namespace) -> dict[str, Any]:
    fake = load_fake(module)
    name = fake.CONNECTOR
    dirs = {kit: SWEEP / kit / name for kit in KITS}
    result: dict[str, Any] = {"connector": name, "pattern": fake.PATTERN, "notes": getattr(fake, "NOTES", "")}
    result["ran_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result["kit_commit"] = _kit_commit()
    config = fake.config(ANCHOR) if hasattr(fake, "config") else fake.CONFIG
    async with serving(fake, env) as (port, log):
        disc = await one_shot(
            dirs["ref"], env.for_port(port), {"discover": {"connectorType": "IMAGE", "config": config}}, 120
        )
    try:
        discovered = disc["messages"][0]["discovered"]["bindings"]
        chosen = pick_bindings(discovered, getattr(fake, "BINDINGS", None))
    except (IndexError, KeyError, RuntimeError) as e:
        result["error"] = f"discover on the reference failed: {e!r} {disc.get('error', '')}"
        return result
    overrides = getattr(fake, "RESOURCE_OVERRIDES", {})
    for b in chosen:
        b["resourceConfig"] = {**b["resourceConfig"], **overrides.get(b["recommendedName"], {})}
    validate = {
        "validate": {
            "name": f"acmeCo/{name}",
            "connectorType": "IMAGE",
            "config": config,
            "bindings": [
                {"resourceConfig": b["resourceConfig"], "collection": collection(name, b), "backfill": 0}
                for b in chosen
            ],
        }
    }
    result["bindings"] = [b["recommendedName"] for b in chosen]
    runs: dict[str, Any] = {}
    for kit in KITS:
        async with serving(fake, env) as (port, log):
            val = await one_shot(dirs[kit], env.for_port(port), validate, 120)
            try:
                paths = [v["resourcePath"] for v in val["messages"][0]["validated"]["bindings"]]
            except (IndexError, KeyError):
                runs[kit] = {
                    "error": f"validate: rc {val['rc']}: {val['error']}",
                    "messages": [],
                    "validate": val,
                    "requests": list(log),
                }
                continue
            runs[kit] = {"resourcePaths": paths}
        if kit == "ours" and runs.get("ref", {}).get("resourcePaths") not in (None, paths):
            runs[kit]["note"] = "resource paths differ from the reference's"
        paths = runs["ref"].get("resourcePaths") or paths
        open_request = {
            "open": {
                "capture": {
                    "name": f"acmeCo/{name}",
                    "connectorType": "IMAGE",
                    "config": config,
                    "intervalSeconds": 300,
                    "bindings": [
                        {
                            "resourceConfig": b["resourceConfig"],
                            "resourcePath": path,
                            "collection": collection(name, b),
                            "backfill": 0,
                            "stateKey": state_key(path),
                        }
                        for b, path in zip(chosen, paths, strict=True)
                    ],
                },
                "version": "dropin",
                "range": RANGE,
                "state": {},
            }
        }
        run = await run_open(fake, env, args, dirs[kit], open_request)
        runs[kit].update(run)
        print(
            f"  {name} {kit}: {run['ended']} rc={run['rc']} {run['seconds']}s "
            f"{sum('captured' in m for m in run['messages'])} docs, {len(run['requests'])} requests",
            flush=True,
        )
    result["runs"] = runs
    result["comparison"] = compare(runs, len(chosen), getattr(fake, "DROP_FIELDS", []))
    result["dropped_fields"] = getattr(fake, "DROP_FIELDS", [])
    if args.resume and "rc" in runs.get("ref", {}) and "rc" in runs.get("ours", {}):
        # A user switching kits: both kits resume from the state the reference checkpointed.
        resumed: dict[str, Any] = {}
        for kit in KITS:
            again = json.loads(json.dumps(open_request))
            again["open"]["state"] = final_state(runs["ref"]["messages"])
            resumed[kit] = await run_open(fake, env, args, dirs[kit], again, resumed=True)
        result["resumed"] = resumed
        result["resume_comparison"] = compare(
            resumed, len(chosen), result["dropped_fields"], require_docs=False
        )
        print(
            f"  {name} resumed from the reference's state: {result['resume_comparison']['verdict']}",
            flush=True,
        )
    return result


async def run_open(
    fake: ModuleType,
    env: Env,
    args: argparse.Namespace,
    cdir: Path,
    open_request: dict[str, Any],
    resumed: bool = False,
) -> dict[str, Any]:
    """One `open` of the connector in `cdir` against a fresh fake; its messages and the fake's log."""
    async with serving(fake, env) as (port, log):
        wall = time.time()
        run = await capture(
            cdir,
            env.for_port(port),
            open_request,
            fake_idle(fake, args),
            float(getattr(fake, "LIMIT", args.limit)),
            log,
            getattr(fake, "WEBHOOKS", []),
            quiet_after_open=resumed,
        )
        run["wall_start"] = wall
        run["requests"] = list(log)
        run["recorded"] = log.recorded
    return run


def fake_idle(fake: ModuleType, args: argparse.Namespace) -> float:
    return float(getattr(fake, "IDLE", args.idle))


def drop_pointer(doc: Any, pointer: str) -> bool:
    """Removes `pointer` (a JSON pointer) from `doc`; whether it was there."""
    *parents, last = pointer.lstrip("/").split("/")
    for part in parents:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return isinstance(doc, dict) and doc.pop(last, None) is not None


def compare(
    runs: dict[str, Any], n_bindings: int, drop: list[str], require_docs: bool = True
) -> dict[str, Any]:
    """Ours against the reference (see the docstring); `drop`: document fields left out of the
    comparison, each a known difference the fake module explains (counted per kit);
    `require_docs`: a run without documents is no evidence (a resumed run may rightly have none)."""
    if any("rc" not in runs.get(kit, {}) for kit in KITS):
        return {"verdict": "error", "why": "; ".join(f"{k}: {runs.get(k, {}).get('error')}" for k in KITS)}
    out: dict[str, Any] = {}
    docs: dict[str, list[list[Any]]] = {}
    out["dropped"] = {}
    for kit in KITS:
        per: list[list[Any]] = [[] for _ in range(n_bindings)]
        dropped = 0
        for m in runs[kit]["messages"]:
            if "captured" in m:
                doc = json.loads(json.dumps(m["captured"]["doc"]))
                dropped += sum(drop_pointer(doc, p) for p in drop)
                per[m["captured"]["binding"]].append(doc)
        out["dropped"][kit] = dropped
        docs[kit] = per
        out[f"docs_{kit}"] = sum(len(p) for p in per)
        out[f"checkpoints_{kit}"] = sum("checkpoint" in m for m in runs[kit]["messages"])

    def canon(d: Any) -> str:
        return json.dumps(d, sort_keys=True)

    def bags(kit: str, blur: bool, counter: list[int]) -> list[list[str]]:
        start = runs[kit]["wall_start"]
        return [sorted(canon(blur_now(d, start, counter) if blur else d) for d in p) for p in docs[kit]]

    exact = bags("ref", False, [0]) == bags("ours", False, [0])
    blurred = [0]
    out["docs_equal"] = exact or bags("ref", True, blurred) == bags("ours", True, [0])
    out["docs_exact"] = exact
    out["docs_blurred"] = 0 if exact else blurred[0]
    out["docs_same_order"] = [list(map(canon, p)) for p in docs["ref"]] == [
        list(map(canon, p)) for p in docs["ours"]
    ]
    if not out["docs_equal"]:
        ref_b, ours_b = bags("ref", True, [0]), bags("ours", True, [0])
        out["docs_diff"] = [
            {
                "binding": i,
                "only_ref": sorted(set(ref_b[i]) - set(ours_b[i]))[:3],
                "only_ours": sorted(set(ours_b[i]) - set(ref_b[i]))[:3],
            }
            for i in range(n_bindings)
            if ref_b[i] != ours_b[i]
        ]
    states = {kit: final_state(runs[kit]["messages"]) for kit in KITS}
    counter = [0]
    out["states_equal"] = same_up_to_now(
        states["ref"], states["ours"], runs["ref"]["wall_start"], runs["ours"]["wall_start"], counter
    )
    out["state_now_values"] = counter[0]
    recorded = [0]
    out["recorded_equal"] = same_up_to_now(
        runs["ref"]["recorded"],
        runs["ours"]["recorded"],
        runs["ref"]["wall_start"],
        runs["ours"]["wall_start"],
        recorded,
    )
    out["recorded_count"] = len(runs["ref"]["recorded"])
    out["state_ref"], out["state_ours"] = states["ref"], states["ours"]
    out["webhooks"] = [runs[kit].get("webhook_responses", []) for kit in KITS]
    ok = (
        out["docs_equal"]
        and out["states_equal"]
        and out["recorded_equal"]
        and out["webhooks"][0] == out["webhooks"][1]
        and (out["docs_ref"] > 0 or not require_docs)
    )
    out["verdict"] = (
        "same" if ok else ("no documents" if out["docs_ref"] == 0 and require_docs else "differs")
    )
    return out


# --- the table ---------------------------------------------------------------------------------


def table(path: Path) -> None:
    rows = []
    passed = total = resume_total = resume_same = 0
    commits: set[str] = set()
    for module in fake_modules():
        fake = load_fake(module)
        try:
            r = json.loads((OUT / f"{fake.CONNECTOR}.json").read_text())
        except (OSError, ValueError):
            rows.append(f"| {fake.CONNECTOR} | {fake.PATTERN} | not run | | | | | |")
            continue
        total += 1
        commits.add(r.get("kit_commit", "?"))
        if "runs" in r and "bindings" in r:  # compared again, so the table follows these rules
            r["comparison"] = compare(r["runs"], len(r["bindings"]), r.get("dropped_fields", []))
        c = r.get("comparison") or {}
        resumed = "not run"
        if "resumed" in r:
            rc = compare(r["resumed"], len(r["bindings"]), r.get("dropped_fields", []), require_docs=False)
            resumed = f"{rc['verdict']} ({rc['docs_ref']} / {rc['docs_ours']} docs)"
            resumed = resumed if rc["verdict"] == "same" else f"**{resumed}**"
            resume_total += 1
            resume_same += rc["verdict"] == "same"
        if "docs_ref" not in c:
            why = r.get("error") or c.get("why", "")
            rows.append(f"| {fake.CONNECTOR} | {fake.PATTERN} | | | | error | | {why[:200]} |")
            continue
        passed += c["verdict"] == "same"
        runs = r["runs"]
        ends = f"ref: {runs['ref']['ended']}, ours: {runs['ours']['ended']}"
        notes = [
            f"{len(r['bindings'])} bindings ({', '.join(r['bindings'])})",
            f"checkpoints {c['checkpoints_ref']}/{c['checkpoints_ours']}",
            f"ended {ends}",
            "same order" if c["docs_same_order"] else "order differs",
            f"state date-times from now {c['state_now_values']}",
            *(
                [
                    f"{c['recorded_count']} recorded requests (token, encrypted config) "
                    + ("equal" if c["recorded_equal"] else "**differ**")
                ]
                if c.get("recorded_count")
                else []
            ),
            "docs exact"
            if c["docs_exact"]
            else f"docs equal once {c['docs_blurred']} date-times near now are blurred",
        ]
        if any(c.get("webhooks", [])):
            notes.append(f"webhook responses ref {c['webhooks'][0]}, ours {c['webhooks'][1]}")
        if r.get("dropped_fields"):
            d = c["dropped"]
            notes.append(
                f"left out of the comparison: {', '.join(r['dropped_fields'])} "
                f"(present {d['ref']} times on ref, {d['ours']} on ours)"
            )
        if r.get("notes"):
            notes.append(r["notes"])
        verdict = c["verdict"] if c["verdict"] == "same" else f"**{c['verdict']}**"
        rows.append(
            f"| {fake.CONNECTOR} | {fake.PATTERN} | {c['docs_ref']} / {c['docs_ours']} "
            f"| {'yes' if c['states_equal'] else '**no**'} | {'yes' if c['docs_equal'] else '**no**'} "
            f"| {verdict} | {resumed} | {'; '.join(notes).replace('|', '/')} |"
        )
    head = [
        "# Drop-in captures: Estuary's connectors against local fakes, on both kits",
        "",
        "Each connector (installed by `bench/dropin_sweep.py`, unchanged) captures from a small local "
        "fake of its vendor's API (`bench/dropin_fakes/`), once on its own reference kit and once on "
        "ours; `bench/dropin_captures.py` says how, and which values derived from now are matched "
        "loosely (date-times within 7 days of the run's start, at the same offset from it, 2 min "
        "of slack).",
        "",
        f"**Same documents and final state on both kits: {passed} of {total} run.** "
        f"Then both kits opened again from the state the reference checkpointed (`--resume`: a user "
        f"switching kits), and compared: the same in {resume_same} of {resume_total} resumed. "
        f"Table written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; our kit at "
        f"{', '.join(f'`{c}`' for c in sorted(commits))}"
        + (
            " (`+changes`: the kit's files differed from that commit)"
            if any("+" in c for c in commits)
            else ""
        )
        + "; reference kit of estuary/connectors at `a9bf9533`; Python 3.12.",
        "",
        "| connector | pattern | docs ref / ours | states equal | docs equal | verdict "
        "| resumed from the reference's state | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    path.write_text("\n".join(head + rows) + "\n")
    print(f"wrote {path}")


async def main_async(args: argparse.Namespace) -> None:
    modules = [m for m in fake_modules() if not args.only or load_fake(m).CONNECTOR in args.only.split(",")]
    hosts = sorted({h for m in modules for h in load_fake(m).HOSTS})
    OUT.mkdir(parents=True, exist_ok=True)
    ca, ctx = make_ca_and_server(hosts or ["localhost"], OUT / "tls")
    env = Env(ca=ca, ssl=ctx, hosts=hosts)
    gate = asyncio.Semaphore(args.jobs)

    async def one(module: str) -> None:
        async with gate:
            name = load_fake(module).CONNECTOR
            print(f"{name} ...", flush=True)
            try:
                result = await run_connector(module, env, args)
            except Exception as e:  # a harness failure on one connector is that row's result
                result = {"connector": name, "error": f"harness: {e!r}"}
            (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
            c = result.get("comparison", {})
            print(f"{name}: {c.get('verdict', result.get('error'))}", flush=True)

    await asyncio.gather(*(one(m) for m in modules))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--idle", type=float, default=8.0, help="quiet seconds after a checkpoint that end a run"
    )
    parser.add_argument("--limit", type=float, default=120.0, help="longest run, seconds")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="then open both kits again from the reference's final state, and compare those runs",
    )
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--table", type=Path, default=BENCH / "dropin_captures.md")
    args = parser.parse_args()
    sys.path.insert(0, str(BENCH))
    if not args.table_only:
        asyncio.run(main_async(args))
    table(args.table)


if __name__ == "__main__":
    main()
