"""Test helpers for connectors: local HTTP servers with fault injection, a request log and a
fake clock. Everything binds to 127.0.0.1 on a random free port.

Serving an app
--------------
* `serve_app(app, *, faults=None, requests=None)` — async context manager; serves `app` in the
  running event loop and yields a `LocalServer`:

      async with serve_app(app) as server:
          body = await http.request(log, server.url_for("/v0/items"))

* `serve_app_in_thread(app_or_factory, *, faults=None, requests=None)` — sync context manager;
  serves from a daemon thread with its own loop, for blocking test code and connectors run as
  subprocesses (e.g. through `flowctl preview`). Pass a zero-argument factory if the app builds
  loop-bound objects: it is called inside the server's loop.

      with serve_app_in_thread(make_fake_api) as server:
          subprocess.run(["flowctl", "preview", ...], env={..., "API_URL": server.url}, check=True)

`LocalServer` has `url` (`http://127.0.0.1:<port>`, no trailing slash), `url_for(path)`, `host`,
`port`, `app`, `faults` (the live `FaultPlan`) and `requests` (the `RequestLog`). The fault and
logging middleware is inserted as the app's outermost middleware.

Fault injection (`FaultPlan`, thread-safe; edit it while the server runs)
-----------------------------------------------------------------------
Every helper takes `path=` (exact path string, a compiled regex matched with `fullmatch`, or
`None` for any path), `method=` (or `None`) and `times=` (how many matching requests it applies
to; `None` = all of them) and returns the `FaultRule` (see `.fired`, `.remaining`).

* `rate_limit(retry_after=None | seconds | datetime | "raw header", headers=...)` — 429s; a
  datetime is rendered as an HTTP date. Extra headers such as `X-RateLimit-Reset` go in `headers`.
* `status(code, headers=..., body=...)` — any canned status, the app is not called.
* `server_errors((500, 502, 503))` — a burst: the next matching requests get these in order.
* `drop_connection(keep_bytes=16)` — the app answers, the client gets the headers and
  `keep_bytes` of the body, then the connection is reset.
* `truncate_body(keep_bytes=16)` — same, but the connection is closed cleanly (FIN).
* `stall_body(keep_bytes=16, seconds=3600)` — same, but the server then sends nothing more for
  `seconds` (a server that stops mid-body), then resets the connection.
* `disconnect(how="close" | "abort")` — no answer at all: the connection is closed (or reset)
  once the request is read.
* `latency(seconds)` — delay before the app answers; stacks with any other matching rule. Use
  a delay longer than the client timeout for a "slow response past the timeout", or a very
  long one for a server that never sends its headers.
* `slow_body(delay, chunk_bytes=1024)` — body trickles out in chunks `delay` apart (a body that
  drips: `slow_body(5, chunk_bytes=1)`).
* `huge_body(size, declare_length=False)` — a 200 whose JSON body is `size` bytes, generated
  while sent (chunked, or with a `Content-Length`); `gzip_bomb(size)` — a 200 whose gzip body
  decompresses to `size` bytes. Neither calls the app, and the server never holds the body.
* `add(fault, ...)` with a `Status`, `CutBody`, `Latency`, `SlowBody`, `HugeBody`, `GzipBomb`
  or `Disconnect` for full control; `clear()`; `pending()`.

Body faults (`drop_connection`, `truncate_body`, `stall_body`, `slow_body`) require the handler
to return a `web.Response` with a bytes body (`web.json_response` does). `unused_url(path)` is a
URL on 127.0.0.1 where nothing listens (connection refused).

Named scenarios and the fault proxy
-----------------------------------
`apply_preset(plan, name, path=None, method=None, times=...)` adds one of `PRESETS` to a plan:
`429-storm` (30 429s, no Retry-After), `429-storm-retry-after` (Retry-After: 1), `5xx-burst`
(500/502/503/504 in turn), `resets` (connections reset before and during the body),
`truncated`, `dripping` (one byte every 0.5 s), `stalled-body`, `huge` (256 MiB of JSON),
`gzip-bomb` (inflates to 4 GiB), `invalid-json` (a 200 that is not JSON) and `redirect-loop`
(302 to itself). `serve_proxy(upstream_url, preset=None)` serves a proxy to any HTTP server
(a connector's fake API) with a plan of its own, so the same scenarios reach any connector:

    with serve_app_in_thread(make_app) as api, serve_proxy(api.url, preset="5xx-burst") as proxy:
        ...                    # point the connector at proxy.url; proxy.requests logs its calls

Request log (`RequestLog`)
--------------------------
Every request (including faulted ones) is recorded as a `RecordedRequest` with `method`,
`path`, `query`, `headers`, `body`, `at` (monotonic arrival time) and `fault` (name of the
injected fault, e.g. `"status:429"`, `"drop"`, `"latency:0.5,truncate"`, or `None`). Use
`matching(path, method)`, `count(...)`, `paths()` (path + query string, in order), `faults()`,
`snapshot()`, `clear()`, `len()` and iteration.

Fake time (`FakeClock`)
-----------------------
Implements the HTTP layer's clock protocol (`monotonic()`, `time()`, `async sleep(s)`): sleeps
return at once, advance the clock and are recorded in `clock.sleeps`, so tests can assert the
backoffs and rate-limit waits that happened without ever waiting for them. Give it to an
`HTTPSession`/`HTTPMixin` through its `clock` attribute (or `open_http_session(clock=...)`).
`FakeClock(auto_advance=False)` makes sleepers block until the test calls `advance()`, to
observe tasks while they wait (`clock.sleeping` counts them); `set_time()` moves the wall clock.
`FakeClock(real_time=True)` is a time-lapse clock: real time runs on it too and sleeps are
skipped but counted, so `monotonic()` gives a request's timeline without waiting it out.

Crash/resume harness (`crash_resume`, module `estuary_cdk.testing.crash_resume`)
--------------------------------------------------------------------------------
Proof that a capture loses nothing when killed: an uninterrupted run of a catalog's capture,
then runs killed with SIGKILL at many points (after a checkpoint, mid-sequence, after a random
time, blocked mid-write), each resumed from the state of what it committed, until caught up.

    report = crash_resume("test.flow.yaml", kills=3, seed=1)              # the connector process
    report.check()                     # union of committed docs == uninterrupted run's, by key;
                                       # nothing lost; cursors never back; no committed duplicate
    crash_resume("test.flow.yaml", kills=2, target="preview").check()    # flowctl preview, killed

`CrashReport` has `lost`, `unexpected`, `redelivered`, `cursor_regressions`, `problems`,
`kills`, `kills_survived`, `summary()`. `python -m estuary_cdk.testing.crash_resume --source
test.flow.yaml --kills 20` (or `flowctl crash-test`) runs it from the command line.

Parts of a fake API (an eventually consistent SaaS API, as a connector's tests need it)
-------------------------------------------------------------------------------------
Pieces a connector's fake server composes (source-hubspot-native's fake HubSpot uses them all):

* `ApiClock(source=None)` — the server's time: a `TimeSource` (the system clock, or the
  `FakeClock` of an in-process session) plus an offset tests move (`advance`), or frozen;
  `now_ms()`, `ms_to_datetime(ms)`.
* `RateBuckets(clock=...)` — token buckets per caller and request class (`set_limit(group,
  BucketLimit(requests, per_seconds) | None)`, `take(caller, group) -> RateVerdict` with what
  rate-limit headers report: limit, remaining, interval, retry-after).
* `FakeTokens(clock, expires_in=...)` — static tokens and OAuth2 refresh-token grants whose
  access tokens expire on the fake's clock, each with scopes: `exchange(form)` answers a token
  request, `check(authorization_header)` gives a `TokenCheck` (its `problem`, a `TokenProblem`:
  missing, unknown, expired, revoked; `has_scope(...)`); `reject_next()`, `expire_all()`.
* `LaggedIndex(lag_ms)` — an index that sees writes `lag_ms` late (a search index: `write`,
  `delete`, `range(lo, hi, now_ms)`), and
  `offset_page(rows, after, limit, cap)` — an offset page that refuses to go past a result cap
  (`ResultCapExceeded`).
* `RandomFaults(seed=...)` — seeded 5xx answers at `rate` (HTML or JSON bodies), as middleware.
* `StatusLog()` — what the fake answered (`AnsweredRequest`: path, status, time), as middleware.
* `control_routes(clock=..., faults=..., requests=...)` — `/_fake/clock`, `/_fake/faults` and
  `/_fake/requests` over HTTP, for a fake served in another process.

Sessions and logs
-----------------
* `open_http_session(log=None, *, clock=None, retry_policy=None, budget=None, token_source=None,
  limits=None)` — async context manager yielding an opened `HTTPMixin`, closed on exit. Short
  `HTTPLimits` (e.g. `headers_timeout=0.2`) test the kit's deadlines in a fraction of a second;
  the retry policy's waits go through the (fake) clock.
* `capture_logger(name)` → `(FlowLogger, LogCapture)`: a DEBUG logger whose lines are formatted
  exactly like the kit's stderr (JSON, secrets redacted). `LogCapture` has `text`, `lines`
  (parsed), `messages(level)` and `events("connectorStatus" | "configUpdate")`.
"""

from ._api_clock import ApiClock, TimeSource, ms_to_datetime
from ._clock import FakeClock
from ._control import control_routes
from ._crash_check import CrashReport
from ._crash_plan import KillPoint
from ._crash_resume import crash_resume
from ._crash_runs import CrashHarnessError
from ._fake_tokens import FakeTokens, TokenCheck, TokenProblem
from ._faults import CutBody, Fault, FaultPlan, FaultRule, Latency, SlowBody, Status, retry_after_value
from ._hostile import Disconnect, GzipBomb, HugeBody
from ._presets import PRESETS, Preset, apply_preset
from ._proxy import proxy_app, serve_proxy
from ._random_faults import RandomFaults
from ._rate_buckets import BucketLimit, RateBuckets, RateVerdict
from ._requests import RecordedRequest, RequestLog
from ._search_index import LaggedIndex, ResultCapExceeded, offset_page
from ._server import LocalServer, serve_app, serve_app_in_thread, unused_url
from ._session import LogCapture, capture_logger, open_http_session
from ._status_log import AnsweredRequest, StatusLog

__all__ = [
    "PRESETS",
    "AnsweredRequest",
    "ApiClock",
    "BucketLimit",
    "CrashHarnessError",
    "CrashReport",
    "CutBody",
    "Disconnect",
    "FakeClock",
    "FakeTokens",
    "Fault",
    "FaultPlan",
    "FaultRule",
    "GzipBomb",
    "HugeBody",
    "KillPoint",
    "LaggedIndex",
    "Latency",
    "LocalServer",
    "LogCapture",
    "Preset",
    "RandomFaults",
    "RateBuckets",
    "RateVerdict",
    "RecordedRequest",
    "RequestLog",
    "ResultCapExceeded",
    "SlowBody",
    "Status",
    "StatusLog",
    "TimeSource",
    "TokenCheck",
    "TokenProblem",
    "apply_preset",
    "capture_logger",
    "control_routes",
    "crash_resume",
    "ms_to_datetime",
    "offset_page",
    "open_http_session",
    "proxy_app",
    "retry_after_value",
    "serve_app",
    "serve_app_in_thread",
    "serve_proxy",
    "unused_url",
]
