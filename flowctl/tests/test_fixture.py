"""Preview fixtures (flow-protocol §5.3): NDJSON and the legacy array form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from flowctl.errors import FixtureError
from flowctl.fixture import read_fixture

from .conftest import MakeMatCatalog


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "fixture.json"
    path.write_text(text)
    return str(path)


def test_ndjson_markers_empty_and_trailing_transactions(tmp_path: Path) -> None:
    text = '\n{"commit": true}\n["a/b", {"id": 1}]\n\n["a/b", {"id": 2}]\n{"commit": true}\n{"commit": true}\n["a/c", {"id": 3}]\n'
    assert list(read_fixture(_write(tmp_path, text))) == [
        [],
        [("a/b", {"id": 1}), ("a/b", {"id": 2})],
        [],
        [("a/c", {"id": 3})],
    ]
    assert list(read_fixture(_write(tmp_path, '["a/b", {"id": 1}]\n{"commit": true}\n'))) == [
        [("a/b", {"id": 1})]
    ]
    assert list(read_fixture(_write(tmp_path, ""))) == []


def test_legacy_array_form(tmp_path: Path) -> None:
    text = '[[["c/one",{"foo":1}],["c/two",{"bar":2}]],\n [["c/one",{"foo":2}]], []]'
    assert list(read_fixture(_write(tmp_path, text))) == [
        [("c/one", {"foo": 1}), ("c/two", {"bar": 2})],
        [("c/one", {"foo": 2})],
        [],
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('\n\n{"commit": true}\n["a/b"]\n', ':4: expected ["<collection>", {document}]'),
        ('{"commit": false}\n', ':1: an object line must be the commit marker {"commit": true}'),
        ("[not json\n", ":1: not valid JSON"),
        ('[[["a/b", 1]]]', "transaction 0 document 0: expected"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(FixtureError) as err:
        list(read_fixture(path))
    assert str(err.value).startswith(path) and message in str(err.value)


def test_a_fixture_on_stdin(make_mat_catalog: MakeMatCatalog) -> None:
    cat = make_mat_catalog()
    lines = [{"commit": True}, ["acmeCo/users", {"id": 4, "name": "d"}], {"commit": True}]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flowctl",
            "preview",
            "--source",
            str(cat.path),
            "--fixture",
            "-",
            "--output-state",
        ],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['["connectorState",{}]'] * 2
    assert sorted(cat.rows()) == ["[4]"]
