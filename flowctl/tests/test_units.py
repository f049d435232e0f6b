from __future__ import annotations

import pytest
from flowctl.discover import canonical_binding, canonical_spec
from flowctl.durations import parse_duration
from flowctl.errors import UsageError
from flowctl.logs import LogDecoder, LogPrinter, OpsLog
from flowctl.merge_patch import apply_merge_patch, compose_merge_patches
from flowctl.output import applied_line, document_line, state_line
from flowctl.session import fold_states
from flowctl.state_key import encode_state_key


def test_state_key_encoding_matches_runtime() -> None:
    assert encode_state_key(["public", "users"], 1) == "public%2Fusers.v1"
    assert encode_state_key(["users"], 0) == "users"
    assert encode_state_key(["my table", "a-b_c+d.e=f"], 0) == "my%20table%2Fa-b_c+d.e=f"
    assert encode_state_key(["ünï", "x%y"], 2) == "ünï%2Fx%25y.v2"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10),
        ("1m", 60),
        ("500ms", 0.5),
        ("1h30m", 5400),
        ("2.5s", 2.5),
        ("PT5M", 300),
        ("1m 30s", 90),
        ("0", 0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "ten seconds", "5x", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_merge_patch_rfc7396() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert apply_merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert apply_merge_patch({"a": [1]}, {"a": [2]}) == {"a": [2]}
    assert apply_merge_patch({"a": 1}, {"b": {"c": None}}) == {"a": 1, "b": {}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}}  # not mutated


def test_compose_patches_is_equivalent_to_sequential_application() -> None:
    base = {"x": {"keep": 1, "drop": 2}, "y": 3}
    first = {"x": {"drop": None, "new": 4}, "z": 5}
    second = {"x": {"new": 6}, "y": None}
    composed = compose_merge_patches(first, second)
    assert composed == {"x": {"drop": None, "new": 6}, "z": 5, "y": None}
    assert apply_merge_patch(base, composed) == apply_merge_patch(apply_merge_patch(base, first), second)


def test_fold_states_merges_and_replaces_in_order() -> None:
    base = {"cursor": 1, "bindingStateV1": {"a": {"x": 1}, "b": {"x": 2}}}
    merges = [
        ({"cursor": 2, "bindingStateV1": {"a": None}}, True),
        ({"bindingStateV1": {"c": {"x": 3}}}, True),
    ]
    state, patch, merge = fold_states(base, merges)
    assert state == {"cursor": 2, "bindingStateV1": {"b": {"x": 2}, "c": {"x": 3}}}
    assert merge and apply_merge_patch(base, patch) == state
    assert base == {"cursor": 1, "bindingStateV1": {"a": {"x": 1}, "b": {"x": 2}}}  # not mutated

    # a replacement drops everything before it; merges after it patch the replacement
    updates = [({"old": 1}, True), ({"fresh": {"y": 1, "z": 2}}, False), ({"fresh": {"z": None}}, True)]
    state, patch, merge = fold_states(base, updates)
    assert state == {"fresh": {"y": 1}} and patch == {"fresh": {"y": 1}} and merge is False

    assert fold_states(base, []) == (base, None, True)


def test_log_decoder_aliases_and_folding() -> None:
    seen: list[OpsLog] = []
    dec = LogDecoder(seen.append)
    dec.feed('{"level":"INFO","msg":"hello","fields":{"source":"flow"}}\n')
    dec.feed('{"lvl":"warning","message":"w","time":"2024-01-01T00:00:00Z","extra":1}\n')
    dec.feed("Traceback (most recent call last):\n")
    dec.feed('  File "x.py", line 1\n')
    dec.feed("RuntimeError: boom\n")
    dec.feed('{"msg":"no level, but failed"}\n')
    dec.flush()
    assert [(log.level, log.message) for log in seen] == [
        ("info", "hello"),
        ("warn", "w"),
        ("error", 'Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: boom'),
        ("error", "no level, but failed"),
    ]
    assert seen[1].ts == "2024-01-01T00:00:00Z" and seen[1].fields == {"extra": 1}
    assert dec.last is not None and dec.last.message == "no level, but failed"


def test_a_logged_traceback_renders_as_lines_and_stays_a_list_in_json() -> None:
    # The kit logs an exception as fields.traceback, a list of lines.
    lines = ["Traceback (most recent call last):", '  File "api.py", line 3, in fetch', "KeyError: 'id'"]
    log = OpsLog("2024-01-01T00:00:00Z", "error", "fetch failed", {"source": "flow", "traceback": lines})
    assert LogPrinter.render(log).splitlines() == [
        "2024-01-01T00:00:00Z ERROR  fetch failed  source=flow",
        "    Traceback (most recent call last):",
        '      File "api.py", line 3, in fetch',
        "    KeyError: 'id'",
    ]
    assert b'"traceback":["Traceback' in log.canonical()
    stack = OpsLog("t", "warn", "slow", {"stack": "a\nb\n", "n": [1, 2]})
    assert LogPrinter.render(stack).splitlines() == ["t WARN   slow  n=[1,2]", "    a", "    b"]


def test_log_rendering() -> None:
    log = OpsLog("2024-01-01T00:00:00Z", "info", "Backfilling", {"eventType": "connectorStatus"})
    assert LogPrinter.render(log) == "2024-01-01T00:00:00Z STATUS Backfilling"
    plain = OpsLog("2024-01-01T00:00:00Z", "warn", "slow", {"source": "flow", "n": 2, "why": "a b"})
    assert LogPrinter.render(plain) == '2024-01-01T00:00:00Z WARN   slow  source=flow n=2 why="a b"'
    assert (
        plain.canonical()
        == b'{"ts":"2024-01-01T00:00:00Z","level":"warn","message":"slow","fields":{"source":"flow","n":2,"why":"a b"}}'
    )


def test_output_lines_are_byte_compatible() -> None:
    assert document_line("acmeCo/users", {"name": "a", "id": 1, "_meta": {"uuid": "U", "op": "c"}}) == (
        b'["acmeCo/users",{"_meta":{"op":"c","uuid":"U"},"id":1,"name":"a"}]\n'
    )
    assert (
        state_line({"cursor": "abc"}, True)
        == b'["connectorState",{"updated":{"cursor":"abc"},"mergePatch":true}]\n'
    )
    assert state_line({"cursor": "abc"}, False) == b'["connectorState",{"updated":{"cursor":"abc"}}]\n'
    assert (
        applied_line('CREATE TABLE "users" (\n\tid)')
        == b'["applied.actionDescription", "CREATE TABLE \\"users\\" (\\n\\tid)"]\n'
    )
    assert document_line("c/big", {"id": 2**70}) == b'["c/big",{"id":1180591620717411303424}]\n'


def test_canonical_spec_and_binding_order() -> None:
    spec = {
        "configSchema": {},
        "resourceConfigSchema": {},
        "documentationUrl": "u",
        "resourcePathPointers": ["/n"],
        "protocol": 3032023,
    }
    assert list(canonical_spec(spec)) == [
        "protocol",
        "configSchema",
        "resourceConfigSchema",
        "documentationUrl",
        "resourcePathPointers",
    ]
    binding = {
        "recommendedName": "x",
        "resourceConfig": {},
        "documentSchema": {"type": "object"},
        "key": ["/id"],
        "disable": False,
    }
    assert canonical_binding(binding) == {
        "recommendedName": "x",
        "resourceConfig": {},
        "documentSchema": {"type": "object"},
        "key": ["/id"],
    }


def test_partition_label_values_like_flow() -> None:
    from flowctl.selectors import label_value

    assert [label_value(v) for v in (None, True, False, 123, -123)] == [
        "%_null",
        "%_true",
        "%_false",
        "%_123",
        "%_-123",
    ]
    assert label_value("hello, world!") == "hello%2C%20world%21"
    assert label_value("no.no&no-no@no$yes_yes();") == "no.no%26no-no%40no%24yes_yes%28%29%3B"
    assert label_value("%_null") == "%25_null"
