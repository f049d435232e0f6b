"""The drop-in sweep: every Python capture connector of Estuary's connectors repository, run on
the reference kit and on ours (issue 11).

Kept outside the project's tests because the connectors are not ours: their code is extracted
from a local clone of estuary/connectors (`--repo`, at `--commit`) into `bench/.work/sweep/`
(gitignored) and never committed. Each connector is installed twice with Poetry, from its own
pyproject.toml and poetry.lock, main dependencies only:

* `ref`: exactly as committed, its `../estuary-cdk` path dependency being the reference kit of
  that same commit (so its lock file holds);
* `ours`: the `estuary-cdk` path dependency pointed at this repository's kit (extras kept), then
  `poetry lock` (Poetry 2 keeps every locked version the new constraints still allow, as a user
  swapping the kit would get) and `poetry install`.

Every connector runs on Python 3.12 (`--python`, pyenv's by default), as in production: the
reference's images are built `FROM python:3.12-slim` (estuary-cdk/common.Dockerfile), and several
connectors that declare `^3.11` use 3.12 syntax (on 3.11 they fail at import, on either kit). Then,
from the connector's directory with its venv's python (as `python -m source_x` runs in Flow):

* import: `import source_x`;
* spec: `{"spec": ...}` on stdin; compared with the committed flowctl snapshot (as JSON, the
  fields at their default left out as flowctl's protobuf round trip leaves them out of what it
  prints: top-level nulls such as `"oauth2": null`, OAuth2's `accessTokenBody: ""` and
  `accessTokenHeaders: {}`; a connector with no spec snapshot is counted as such) and, on ours,
  byte for byte with the reference's stdout;
* discover and validate with one placeholder config built from the reference's config schema
  (every required field given a dummy of its type, defaults kept) and, for validate, the
  bindings of the committed test.flow.yaml; no network is reachable, so these mostly fail: ours is
  compared with the reference's stdout bytes and exit code, and each run's time is kept.

Results go to `bench/.work/sweep/results/<kit>/<connector>.json`, each stamped with the kit
commit, the Python and the time of its run; the markdown table of both kits to `--table`
(bench/dropin_sweep.md by default), built from the results present, with the connectors not run
(or run only on one kit) counted and named as such rather than as failures. A rerun reinstalls
a connector only when the kit's pyproject.toml or the Python changed (the kit is installed
editable, so code changes need no reinstall).

    estuary-cdk/.venv/bin/python bench/dropin_sweep.py [--kit both|ours|ref] [--only a,b]
        [--jobs 3] [--timeout 30] [--reinstall] [--table-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
KIT = ROOT / "estuary-cdk"
WORK = BENCH / ".work" / "sweep"
DEFAULT_REPO = Path("/work/.mirror/estuary+connectors/repo")
DEFAULT_COMMIT = "a9bf95333966bf4bac21c0c152d5e5ac03ec7f6b"
# pyenv's own 3.12 rather than its shim (a shim fails unless pyenv selects that version).
_PYENV312 = Path("/root/.pyenv/versions/3.12.1/bin/python3.12")
PY312 = str(_PYENV312) if _PYENV312.exists() else shutil.which("python3.12") or "python3.12"
_PYENV313 = Path("/root/.pyenv/versions/3.13.0/bin/python3.13")
PYTHON_OVERRIDES = {"source-iterable-native": str(_PYENV313)}
"""Connectors run on another Python than `--python`, and why: source-iterable-native builds
`TypeVar(name=..., bound=...)`, which crashes CPython 3.12.0-3.12.3 with a segmentation fault
(python/cpython#118814, fixed in later 3.12 releases, which production's python:3.12-slim has);
this machine's only 3.12 is 3.12.1, so it runs on 3.13, on both kits alike."""


def python_for(name: str, args: argparse.Namespace) -> str:
    override = PYTHON_OVERRIDES.get(name)
    return override if override and Path(override).exists() else args.python


KIT_DEP = re.compile(r"^estuary-cdk\s*=\s*\{[^}]*\}", re.M)


def connectors(repo: Path, commit: str) -> list[str]:
    names = _git(repo, "ls-tree", "-r", "--name-only", commit).split()
    return sorted(n.split("/")[0] for n in names if re.fullmatch(r"source-[^/]+/pyproject\.toml", n))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def extract(repo: Path, commit: str, path: str, into: Path) -> None:
    """`git archive` of one folder of the clone, unpacked under `into` (replacing it)."""
    shutil.rmtree(into / path, ignore_errors=True)
    into.mkdir(parents=True, exist_ok=True)
    tar = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, path], check=True, capture_output=True
    ).stdout
    tmp = into / f".{path}.tar"
    tmp.write_bytes(tar)
    with tarfile.open(tmp) as t:
        t.extractall(into, filter="data")
    tmp.unlink()


def _tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])[-1200:]


def install(kit: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Installs one connector for one kit; returns {"ok", "python", "seconds", "error"}."""
    base = WORK / kit
    cdir = base / name
    marker = cdir / ".sweep-installed"
    py = python_for(name, args)
    kit_hash = hashlib.sha256((KIT / "pyproject.toml").read_bytes()).hexdigest() if kit == "ours" else "ref"
    kit_hash += f" {py}"
    if marker.exists() and marker.read_text() == kit_hash and not args.reinstall:
        return json.loads((cdir / ".sweep-install.json").read_text())
    extract(args.repo, args.commit, name, base)  # replaces the folder, its old .venv included
    if kit == "ref" and not (base / "estuary-cdk").exists():
        extract(args.repo, args.commit, "estuary-cdk", base)
    pyproject = (cdir / "pyproject.toml").read_text()
    if kit == "ours":

        def repoint(m: re.Match[str]) -> str:
            return re.sub(r'path\s*=\s*"[^"]*"', f'path = "{KIT}"', m.group(0))

        (cdir / "pyproject.toml").write_text(KIT_DEP.sub(repoint, pyproject))
    env = {**os.environ, "POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_NO_INTERACTION": "1"}
    env.pop("VIRTUAL_ENV", None)
    steps = [["poetry", "env", "use", py]]
    if kit == "ours":
        steps.append(["poetry", "lock"])
    steps.append(["poetry", "install", "--only", "main", "--no-root"])
    started = time.monotonic()
    result: dict[str, Any] = {"ok": True, "python": Path(py).name, "error": ""}
    for step in steps:
        p = subprocess.run(step, cwd=cdir, env=env, capture_output=True, text=True, timeout=1800)
        if p.returncode != 0:
            result.update(ok=False, error=f"{' '.join(step[:2])}: {_tail(p.stdout + p.stderr)}")
            break
    result["seconds"] = round(time.monotonic() - started, 1)
    (cdir / ".sweep-install.json").write_text(json.dumps(result))
    marker.write_text(kit_hash)
    return result


def module_of(cdir: Path) -> str:
    for main in sorted(cdir.glob("source_*/__main__.py")):
        return main.parent.name
    return cdir.name.replace("-", "_")


def run(cdir: Path, argv: list[str], stdin: bytes, timeout: float) -> dict[str, Any]:
    """One process from the connector's directory; stdout kept whole, stderr's last error line."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "DOCS_URL")}
    started = time.monotonic()
    try:
        p = subprocess.run(
            [str(cdir / ".venv" / "bin" / "python"), *argv],
            cwd=cdir,
            env=env,
            input=stdin,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        return {
            "rc": "timeout",
            "seconds": round(time.monotonic() - started, 1),
            "stdout": (e.stdout or b"").decode(errors="replace"),
            "error": f"no answer in {timeout:.0f}s",
        }
    return {
        "rc": p.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "stdout": p.stdout.decode(errors="replace"),
        "error": last_error(p.stderr.decode(errors="replace")),
    }


def last_error(stderr: str) -> str:
    """The last ERROR log line's message (first line of it), else the last stderr line."""
    found = ""
    for line in stderr.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("level") in ("ERROR", "error", "CRITICAL"):
            msg = str(rec.get("msg") or rec.get("message") or "")
            lines = [ln for ln in msg.splitlines() if ln.strip()]
            found = lines[-1] if msg.startswith("Traceback") and lines else (lines[0] if lines else "")
    if not found:
        plain = [ln for ln in stderr.splitlines() if ln.strip()]
        found = plain[-1] if plain else ""
    return found[:300]


# --- placeholder config --------------------------------------------------------------------


def placeholder(schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A value of `schema`'s shape: defaults kept, every required field given a dummy."""
    root = root or schema
    if depth > 12:
        return None
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {})
        return placeholder({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    for alt in ("oneOf", "anyOf"):
        if schema.get(alt):
            choices = [c for c in schema[alt] if c.get("type") != "null"] or schema[alt]
            return placeholder(choices[0], root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return placeholder(merged, root, depth + 1)
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        out = {}
        for key, sub in schema.get("properties", {}).items():
            if key in schema.get("required", []) or "default" in sub:
                out[key] = placeholder(sub, root, depth + 1)
        return out
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return "2024-01-01T00:00:00Z"
        if fmt == "date":
            return "2024-01-01"
        if fmt in ("uri", "url"):
            return "https://placeholder.invalid"
        if fmt == "email":
            return "placeholder@example.com"
        return "placeholder"
    return None


def validate_bindings(cdir: Path) -> tuple[str, list[dict[str, Any]]]:
    """Capture name and bindings of the committed test.flow.yaml (keys from acmeCo/flow.yaml)."""
    try:
        flow = yaml.safe_load((cdir / "test.flow.yaml").read_text())
        name, capture = next(iter(flow["captures"].items()))
    except (OSError, StopIteration, KeyError, TypeError, AttributeError, yaml.YAMLError):
        return "acmeCo/capture", []
    keys: dict[str, list[str]] = {}
    for imp in flow.get("import") or []:
        try:
            doc = yaml.safe_load((cdir / imp).read_text())
            keys.update({k: v.get("key", []) for k, v in (doc.get("collections") or {}).items()})
        except (OSError, AttributeError, yaml.YAMLError):
            pass
    bindings = []
    for b in capture.get("bindings") or []:
        if b.get("disable"):
            continue
        target = b.get("target", "acmeCo/unknown")
        bindings.append(
            {
                "collection": {
                    "name": target,
                    "key": keys.get(target) or ["/_meta/row_id"],
                    "writeSchema": {},
                },
                "resourceConfig": b.get("resource", {}),
                "backfill": 0,
            }
        )
    return name, bindings


# --- one connector -------------------------------------------------------------------------


def snapshot_spec(cdir: Path) -> Any:
    for path in sorted((cdir / "tests").rglob("*")):
        if path.is_file() and "spec" in path.name and path.suffix in (".json", ".snap"):
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            return data[0] if isinstance(data, list) and data else data
    return None


def _shown(spec: Any) -> Any:
    """A spec as flowctl prints it into the snapshots: through Flow's protobuf, so without its
    top-level null fields nor the OAuth2 fields at their proto3 default ("" and {})."""
    if not isinstance(spec, dict):
        return spec
    shown = {k: v for k, v in spec.items() if v is not None}
    if isinstance(shown.get("oauth2"), dict):
        shown["oauth2"] = {k: v for k, v in shown["oauth2"].items() if v not in (None, "", {}, [])}
    return shown


def spec_vs_snapshot(cdir: Path, stdout: str) -> bool | None:
    """Whether the spec printed equals the connector's committed flowctl snapshot of it; None
    when it has committed none (source-sage-intacct)."""
    snap = snapshot_spec(cdir)
    if snap is None:
        return None
    spec = spec_of(stdout)
    return spec is not None and _shown(spec) == _shown(snap)


def spec_of(stdout: str) -> Any:
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and "spec" in msg:
            return msg["spec"]
    return None


def probe(kit: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    cdir = WORK / kit / name
    out: dict[str, Any] = {
        "connector": name,
        "kit": kit,
        "kit_commit": _kit_commit() if kit == "ours" else args.commit[:8],
        "python": Path(python_for(name, args)).name,
        "ran_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "install": install(kit, name, args),
    }
    if out["install"]["ok"]:
        module = module_of(cdir)
        out["import"] = run(cdir, ["-c", f"import {module}"], b"", args.timeout)
        out["spec"] = run(cdir, ["-m", module], b'{"spec":{"connectorType":"IMAGE"}}\n', args.timeout)
        spec = spec_of(out["spec"]["stdout"])
        out["spec_matches_snapshot"] = spec_vs_snapshot(cdir, out["spec"]["stdout"])
        ref_spec = _ref_result(name, "spec")
        schema = (spec_of(ref_spec) if ref_spec else None) or spec
        config = placeholder(schema["configSchema"]) if isinstance(schema, dict) else {}
        out["config"] = config
        cap, bindings = validate_bindings(cdir)
        discover = {"discover": {"connectorType": "IMAGE", "config": config}}
        validate = {
            "validate": {"name": cap, "connectorType": "IMAGE", "config": config, "bindings": bindings}
        }
        out["discover"] = run(cdir, ["-m", module], json.dumps(discover).encode() + b"\n", args.timeout)
        out["validate"] = run(cdir, ["-m", module], json.dumps(validate).encode() + b"\n", args.timeout)
    dest = WORK / "results" / kit / f"{name}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1))
    print(f"{kit:4} {name:45} {summary(out)}", flush=True)
    return out


def _kit_commit() -> str:
    """This repository's commit, marked `+changes` when the kit's files differ from it."""
    head = _git(ROOT, "rev-parse", "--short", "HEAD").strip()
    dirty = _git(ROOT, "status", "--porcelain", "--", "estuary-cdk/estuary_cdk", "estuary-cdk/pyproject.toml")
    return f"{head}+changes" if dirty.strip() else head


def _ref_result(name: str, what: str) -> str | None:
    try:
        data = json.loads((WORK / "results" / "ref" / f"{name}.json").read_text())
        return data[what]["stdout"]
    except (OSError, KeyError, ValueError):
        return None


def summary(r: dict[str, Any]) -> str:
    if not r["install"]["ok"]:
        return "install FAILED"
    return (
        f"import rc={r['import']['rc']} spec rc={r['spec']['rc']} snap={r['spec_matches_snapshot']} "
        f"discover rc={r['discover']['rc']} {r['discover']['seconds']}s "
        f"validate rc={r['validate']['rc']} {r['validate']['seconds']}s"
    )


# --- the table -----------------------------------------------------------------------------


def load(kit: str, name: str) -> dict[str, Any] | None:
    try:
        return json.loads((WORK / "results" / kit / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


DEFAULTS_ONLY = "differs only in fields at their default, which ours omits (as Flow's JSON does)"
"""The reference's Airbyte shim writes `"oauth2": null` and OAuth2 fields at their proto3
default (`accessTokenBody: ""`, `accessTokenHeaders: {}`); ours leaves them out, as the
protocol does and as those connectors' committed spec snapshots have it."""


def _without_defaults(messages: Any) -> Any:
    """Spec responses with the members at a default (null, "", {}, []) of `spec` and of
    `spec.oauth2` left out; nothing else touched (a schema's own defaults stay compared)."""
    if not isinstance(messages, list):
        return messages
    out = []
    for message in messages:
        spec = message.get("spec") if isinstance(message, dict) else None
        if isinstance(spec, dict):
            spec = {k: v for k, v in spec.items() if v is not None}
            if isinstance(spec.get("oauth2"), dict):
                spec["oauth2"] = {k: v for k, v in spec["oauth2"].items() if v not in (None, "", {}, [])}
            message = {**message, "spec": spec}
        out.append(message)
    return out


def _parsed(stdout: str) -> Any:
    try:
        return [json.loads(line) for line in stdout.splitlines() if line.strip()]
    except ValueError:
        return None


def compare(ours: dict[str, Any] | None, ref: dict[str, Any] | None, what: str) -> str:
    """identical / same failure / differs (and how) / n/a, for ours against the reference."""
    if not ours or not ref or what not in ours or what not in ref:
        return "n/a"
    o, r = ours[what], ref[what]
    if r["rc"] == "timeout" and o["rc"] == 1:
        return f"fails at once ({o['seconds']}s; reference: no answer in {r['seconds']}s)"
    if o["rc"] == r["rc"] and o["stdout"] == r["stdout"]:
        if o["rc"] == 0:
            return "identical"
        return f"same failure ({o['seconds']}s vs {r['seconds']}s)"
    if o["rc"] == r["rc"] == 0 and (parsed := _parsed(o["stdout"])) is not None:
        if parsed == _without_defaults(_parsed(r["stdout"])):
            return DEFAULTS_ONLY
    return f"**differs**: rc {o['rc']} vs {r['rc']} ({o['seconds']}s vs {r['seconds']}s)"


def error_cell(r: dict[str, Any] | None) -> str:
    if not r:
        return ""
    if not r["install"]["ok"]:
        return r["install"]["error"].splitlines()[-1][:160] if r["install"]["error"] else ""
    for what in ("import", "spec", "discover", "validate"):
        rc = r[what]["rc"]
        if isinstance(rc, int) and rc < 0:
            return f"{what}: killed by signal {-rc}"
        if rc != 0 and r[what]["error"]:
            return f"{what}: {r[what]['error'][:160]}"
    return ""


def _kit_span(runs: set[tuple[str, str]]) -> str:
    """Which of our kit the results ran on: the repository's commit at the first and the last
    run (other work lands meanwhile; `+changes`: the kit's working tree differed from it)."""
    if not runs:
        return "our kit: n/a"
    (first_at, first), (last_at, last) = min(runs), max(runs)
    if first == last:
        return f"our kit at `{first}`"
    return f"our kit at `{first}` ({first_at}) to `{last}` ({last_at}), as the repository moved on"


def table(names: list[str], path: Path, args: argparse.Namespace) -> None:
    """The markdown table from the results present: the tallies count only the connectors run
    on both kits (a connector run on one kit, or on none, is named as such, never counted as a
    failure), out of how many were run."""
    rows = []
    tally = {
        k: 0
        for k in (
            "install",
            "import",
            "spec_snap",
            "spec_ref",
            "discover_ref_ok",
            "discover_same",
            "spec_defaults",
            "both",
        )
    }
    ref_tally = {"install": 0, "import": 0, "spec_snap": 0}
    with_snapshot = 0
    run, partial, not_run, kit_commits, pythons = [], [], [], set(), set()
    for name in names:
        ours, ref = load("ours", name), load("ref", name)
        if not ours or not ref:
            (partial if ours or ref else not_run).append(name)
            which = "reference kit only" if ref else "our kit only" if ours else "not run"
            rows.append(f"| {name} | {which} | | | | | | |")
            continue
        run.append(name)
        kit_commits.add((ours.get("ran_at", "?"), ours.get("kit_commit", "?")))
        pythons.update({ours.get("python", "?"), ref.get("python", "?")})
        ok = lambda r, w: bool(r and r["install"]["ok"] and r[w]["rc"] == 0)  # noqa: E731
        # Recomputed from the spec printed, so a change of the comparison needs no rerun.
        ref_snap, ours_snap = (
            spec_vs_snapshot(WORK / kit / name, r["spec"]["stdout"])
            if r["install"]["ok"] and "spec" in r
            else False
            for kit, r in (("ref", ref), ("ours", ours))
        )
        with_snapshot += ours_snap is not None
        if ref["install"]["ok"]:
            ref_tally["install"] += 1
            ref_tally["import"] += ok(ref, "import")
            ref_tally["spec_snap"] += bool(ref_snap)
        if ours["install"]["ok"]:
            tally["install"] += 1
            tally["import"] += ok(ours, "import")
            tally["spec_snap"] += bool(ours_snap)
        spec_cmp = compare(ours, ref, "spec") if ok(ours, "spec") else "n/a"
        tally["spec_ref"] += spec_cmp == "identical"
        tally["spec_defaults"] += spec_cmp == DEFAULTS_ONLY
        disc = compare(ours, ref, "discover") if ok(ours, "import") else "n/a"
        if ok(ref, "discover"):
            tally["discover_ref_ok"] += 1
            tally["discover_same"] += disc == "identical"
        val = compare(ours, ref, "validate") if ok(ours, "import") else "n/a"
        same = lambda c: c == "identical" or c.startswith(("same failure", "fails at once"))  # noqa: E731
        tally["both"] += same(disc) and same(val)
        yn = lambda b: "yes" if b else "**no**"  # noqa: E731
        rows.append(
            f"| {name} | {yn(ours['install']['ok'])} | {yn(ok(ours, 'import'))} "
            f"| {'no snapshot' if ours_snap is None else yn(ours_snap)} | {spec_cmp} | {disc} | {val} "
            f"| {error_cell(ours).replace('|', '/')} |"
        )
    n, total = len(run), len(names)
    unrun = ", ".join(not_run + partial) or "none"
    head = [
        "# Drop-in sweep: Estuary's Python capture connectors on our kit",
        "",
        f"Estuary's connectors repository at `{args.commit[:8]}` has {total} Python capture connectors. "
        "Each is installed with its own poetry.lock, once with its own committed kit (the reference) "
        "and once with ours (`bench/dropin_sweep.py`), on Python 3.12 as in production. Discover and "
        "validate run with a placeholder config and no network: ours is compared with the "
        "reference's stdout and exit code.",
        "",
        f"**Run on both kits: {n} of {total}.** Not run (or run on one kit only), so not counted "
        f"below: {unrun}.",
        "",
        f"Table written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {_kit_span(kit_commits)}; "
        f"Python {', '.join(sorted(pythons)) or 'n/a'}.",
        "",
        *(
            [
                f"Run on another Python than 3.12, on both kits alike: {', '.join(sorted(PYTHON_OVERRIDES))} "
                "(it builds `TypeVar(name=..., bound=...)`, which crashes this machine's CPython 3.12.1 "
                "with a segmentation fault, python/cpython#118814, fixed in the later 3.12 releases "
                "production runs), on 3.13.",
                "",
            ]
            if PYTHON_OVERRIDES
            else []
        ),
        f"| of the {n} run | reference kit | our kit |",
        "|---|---|---|",
        f"| install | {ref_tally['install']}/{n} | {tally['install']}/{n} |",
        f"| import | {ref_tally['import']}/{n} | {tally['import']}/{n} |",
        f"| spec = committed snapshot (of the {with_snapshot} with one) | {ref_tally['spec_snap']}/{with_snapshot} "
        f"| {tally['spec_snap']}/{with_snapshot} |",
        f"| spec byte-identical to the reference | | {tally['spec_ref']}/{n} |",
        "| ... or differing only in fields at their default, which ours omits (see below) | | "
        f"{tally['spec_defaults']}/{n} |",
        f"| discover byte-identical where the reference succeeds offline | | "
        f"{tally['discover_same']}/{tally['discover_ref_ok']} |",
        "| discover and validate: same output and exit code as the reference (or ours fails at once "
        f"where the reference hangs) | | {tally['both']}/{n} |",
        "",
        'Fields at their default: the reference\'s Airbyte shim writes `"oauth2": null` and OAuth2 '
        'fields at their proto3 default (`accessTokenBody: ""`, `accessTokenHeaders: {}`); ours '
        "leaves them out, as Flow's protocol JSON does and as those connectors' committed spec "
        "snapshots have them.",
        "",
        "| connector | install | import | spec = snapshot | spec vs reference | discover vs reference "
        "| validate vs reference | first failure (ours) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    path.write_text("\n".join(head + rows) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO)
    parser.add_argument("--commit", default=DEFAULT_COMMIT)
    parser.add_argument("--kit", choices=("both", "ours", "ref"), default="both")
    parser.add_argument("--only", default="")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--python", default=PY312, help="the Python of every connector's venv (3.12)")
    parser.add_argument("--reinstall", action="store_true")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--table", type=Path, default=BENCH / "dropin_sweep.md")
    args = parser.parse_args()
    names = connectors(args.repo, args.commit)
    chosen = [n for n in names if not args.only or n in args.only.split(",")]
    if not args.table_only:
        kits = ["ref", "ours"] if args.kit == "both" else [args.kit]

        def both(name: str) -> None:
            # The reference first (ours compares with its spec and uses its config), then ours, one
            # connector at a time: a run cut short leaves whole connectors, not one kit of each.
            for kit in kits:
                probe(kit, name, args)

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(both, chosen))
    table(names, args.table, args)


if __name__ == "__main__":
    main()
