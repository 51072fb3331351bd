"""Canonical JSON of the audit log, both versions.

Version 2 (RFC 8785) is checked against its rules and, where Node is installed, against
JavaScript's own ``JSON.stringify`` (the spelling RFC 8785 adopts); version 1 (the form of
logs written before) must stay byte for byte what it was. Logs written with version 1 (the
fixtures under ``data/``, made by the code before version 2 existed) still verify, alone and
continued with version-2 records, and the auditor's script of ``docs/audit-log.md`` recomputes
a version-2 chain in JavaScript.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explainscore.exceptions import ParameterError
from explainscore.governance._audit import AuditLog, audit_verify_main
from explainscore.governance._audit_canon import (
    CANON_VERSION,
    canonical_json,
    canonical_members,
    join_members,
    parse_utc,
    utc_text,
)

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit-log.md"
NODE = shutil.which("node")
SAFE = 2**53 - 1

scalars_v1 = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
scalars_v2 = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)


def _values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
        max_leaves=30,
    )


# ---------------------------------------------------------------- version 2: RFC 8785


def test_current_version_is_rfc8785() -> None:
    assert CANON_VERSION == 2
    assert canonical_json({"a": 1.0}) == canonical_json({"a": 1.0}, 2) == b'{"a":1}'


@settings(max_examples=300, deadline=None)
@given(_values(scalars_v2))
def test_v2_round_trip(value: Any) -> None:
    raw = canonical_json(value, 2)
    decoded = json.loads(raw)
    assert canonical_json(decoded, 2) == raw
    assert _same_number_tree(decoded, value)
    assert b"\n" not in raw
    assert raw.decode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), scalars_v2, max_size=8), st.randoms())
def test_v2_key_order_does_not_matter(value: dict[str, Any], rnd: Any) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items), 2) == canonical_json(value, 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Numbers as ECMAScript writes a double (RFC 8785 section 3.2.2.3).
        (2.0, "2"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (1.5e-10, "1.5e-10"),
        (1e16, "10000000000000000"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (-1.25e300, "-1.25e+300"),
        (1 / 3, "0.3333333333333333"),
        (10**16 + 2**20, "10000000001048576"),  # beyond 2**53; a double holds it exactly
        # Strings: only ", \\ and control characters escaped; everything else as UTF-8.
        ("é\u2028\U0001d518", '"é\u2028\U0001d518"'),
        ("a\tb\x1f\x7f", '"a\\tb\\u001f\x7f"'),
        # Keys by UTF-16 code units: U+1D518 (D835 DD18) before U+E000, unlike code points.
        ({"\ue000": 1, "\U0001d518": 2, "b": [1, 2.0, None], "a": True}, None),
    ],
)
def test_v2_exact_form(value: Any, expected: str | None) -> None:
    if expected is None:
        expected = '{"a":true,"b":[1,2,null],"\U0001d518":2,"\ue000":1}'
    assert canonical_json(value, 2) == expected.encode("utf-8")


def test_v1_and_v2_differ_only_where_documented() -> None:
    value = {"x": 2.0, "y": 1e-07, "z": [1, "é", None, True, 0.5]}
    assert canonical_json(value, 1) == '{"x":2.0,"y":1e-07,"z":[1,"é",null,true,0.5]}'.encode()
    assert canonical_json(value, 2) == '{"x":2,"y":1e-7,"z":[1,"é",null,true,0.5]}'.encode()


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), {1: "x"}, {"a": {1.5: 2}}, b"bytes", {1, 2}, "\ud800", object()],
)
def test_refused(value: Any, version: int) -> None:
    with pytest.raises(ParameterError):
        canonical_json(value, version)


# 2**60 is a double, but RFC 8785 writes it 1152921504606847000: it would read back changed.
@pytest.mark.parametrize("value", [2**53 + 1, 2**60, -(2**60) - 1, 10**400, {"a": [2**64 + 1]}])
def test_v2_refuses_an_int_no_double_holds(value: Any) -> None:
    with pytest.raises(ParameterError, match=r"2\*\*53.*Pass it as a str"):
        canonical_json(value, 2)
    canonical_json(value, 1)  # version 1 wrote such ints as they are


@pytest.mark.parametrize("version", [0, 3, "2", True, None])
def test_unknown_version_refused(version: Any) -> None:
    with pytest.raises(ParameterError, match="version must be one of"):
        canonical_json({}, version)


@pytest.mark.skipif(NODE is None, reason="Node is not installed")
def test_v2_numbers_and_strings_match_javascript() -> None:
    # JSON.stringify is the spelling RFC 8785 adopts: an implementation outside Python.
    import random

    rnd = random.Random(8785)
    floats = [rnd.uniform(-1, 1) * 10 ** rnd.randint(-30, 30) for _ in range(400)]
    floats += [1e-7, 1e-6, 1e21, 1e20, 5e-324, 1.7976931348623157e308, 2.0**53, 0.1 + 0.2]
    texts = ["é", "\u2028", "\U0001d518", "\x00\x1f\x7f", 'q"b\\', "\t\n\r\b\f"]
    keys = {"\ue000": 1, "\U0001d518": 2, "Z": 3, "a": 4, "é": 5, "\U0001f600": 6}
    value = {"floats": floats, "texts": texts, "keys": keys}
    ours = canonical_json(value, 2).decode("utf-8")
    script = (
        "const jcs = (v) => v === null || typeof v !== 'object' ? JSON.stringify(v) :"
        " Array.isArray(v) ? '[' + v.map(jcs).join(',') + ']' :"
        " '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + jcs(v[k]))"
        ".join(',') + '}';"
        "let s = ''; process.stdin.on('data', (d) => s += d);"
        "process.stdin.on('end', () => process.stdout.write(jcs(JSON.parse(s))));"
    )
    theirs = subprocess.run(
        [str(NODE), "-e", script],
        input=json.dumps(value),  # Python's own spelling in: JavaScript re-spells it
        capture_output=True,
        text=True,
        check=True,
        encoding="utf-8",
    ).stdout
    assert ours == theirs


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), _values(scalars_v2), max_size=8), st.sampled_from([1, 2]))
def test_members_joined_are_the_canonical_object(value: dict[str, Any], version: int) -> None:
    # How seal() encodes a record once and joins it twice (without and with its hash).
    members = canonical_members(value, version)
    assert join_members(members, version) == canonical_json(value, version)
    with_hash = {**value, "hash": "ab" * 32}
    members["hash"] = canonical_json("ab" * 32, version)
    assert join_members(members, version) == canonical_json(with_hash, version)


# ---------------------------------------------------------------- version 1: unchanged


@settings(max_examples=200, deadline=None)
@given(_values(scalars_v1))
def test_v1_round_trip(value: Any) -> None:
    raw = canonical_json(value, 1)
    decoded = json.loads(raw)
    assert canonical_json(decoded, 1) == raw
    assert _same(decoded, value)


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_v1_floats_use_repr(x: float) -> None:
    assert canonical_json(x, 1) == repr(x).encode()


def test_v1_exact_form() -> None:
    assert canonical_json({"b": [1, 2.0, None], "a": "é", "c": True}, 1) == (
        '{"a":"é","b":[1,2.0,null],"c":true}'.encode()
    )
    assert canonical_json((1, 0.1), 1) == b"[1,0.1]"


def _same(a: Any, b: Any) -> bool:
    # Tuples come back as lists; -0.0 == 0.0 but must keep its sign.
    if isinstance(b, float):
        return isinstance(a, float) and a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(b, list | tuple):
        return isinstance(a, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    return type(a) is type(b) and a == b


def _same_number_tree(a: Any, b: Any) -> bool:
    # RFC 8785 has one number type, the double: 2.0 comes back as 2, -0.0 as 0, 6.7e16 as the
    # int 67020181736808260; the double is kept (and an int within 2**53 stays that int).
    if isinstance(b, float | int) and not isinstance(b, bool):
        return isinstance(a, float | int) and not isinstance(a, bool) and float(a) == float(b)
    if isinstance(b, list | tuple):
        return isinstance(a, list) and len(a) == len(b) and all(map(_same_number_tree, a, b))
    if isinstance(b, dict):
        return (
            isinstance(a, dict)
            and a.keys() == b.keys()
            and all(_same_number_tree(a[k], b[k]) for k in b)
        )
    return type(a) is type(b) and a == b


def test_utc_text_is_fixed_width_utc() -> None:
    moment = dt.datetime(2024, 5, 1, 14, 3, 2, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert utc_text(moment) == "2024-05-01T12:03:02.000005Z"
    assert parse_utc(utc_text(moment)) == moment
    with pytest.raises(ParameterError):
        utc_text(dt.datetime(2024, 5, 1))  # naive: refused


# ---------------------------------------------------------------- logs of both versions


def _fixture(tmp_path: Path, name: str) -> Path:
    """A copy of a version-1 fixture log (verifying or appending must not touch the original)."""
    for file in DATA.glob(name + "*"):
        shutil.copy(file, tmp_path / file.name)
    return tmp_path / name


@pytest.mark.parametrize("name", ["audit_v1.jsonl", "audit_v1.sqlite"])
def test_log_written_with_version_1_still_verifies(tmp_path: Path, name: str) -> None:
    path = _fixture(tmp_path, name)
    log = AuditLog(path)
    records = list(log.records())
    assert len(records) == 3
    assert all("canon" not in r for r in records)  # written before versions existed
    # The fixture holds values the two versions spell differently.
    ratio = records[0]["details"]["ratio"]
    assert ratio == 2.0
    assert isinstance(ratio, float)
    result = log.verify(tmp_path / f"{name}.checkpoint.json")
    assert result.ok, result.problem
    assert result.checkpoint_checked
    assert result.records == 3
    assert audit_verify_main(str(path), checkpoint=str(tmp_path / f"{name}.checkpoint.json")) == 0
    from explainscore.cli import main

    assert main(["audit", "verify", str(path)]) == 0  # the command line, as an auditor runs it


@pytest.mark.parametrize("name", ["audit_v1.jsonl", "audit_v1.sqlite"])
def test_version_1_log_continued_with_version_2_records(tmp_path: Path, name: str) -> None:
    path = _fixture(tmp_path, name)
    log = AuditLog(path, pseudonym_key=b"fixture-pseudonym-key-0123456789abcdef")
    receipt = log.append({"event": "sign_off", "actor": "auditor", "ratio": 2.0, "tiny": 1e-07})
    assert receipt.seq == 4
    new = list(log.records())[-1]
    assert new["canon"] == 2
    assert new["details"] == {"ratio": 2, "tiny": 1e-07}  # stored as JCS: "ratio":2
    assert log.verify(tmp_path / f"{name}.checkpoint.json").ok
    assert audit_verify_main(str(path)) == 0


def test_edited_version_1_record_is_caught(tmp_path: Path) -> None:
    path = _fixture(tmp_path, "audit_v1.jsonl")
    lines = path.read_bytes().split(b"\n")
    assert b'"ratio":2.0' in lines[1]
    lines[1] = lines[1].replace(b'"ratio":2.0', b'"ratio":3.0')
    path.write_bytes(b"\n".join(lines))
    result = AuditLog(path).verify()
    assert not result.ok
    assert result.first_bad == 1
    assert audit_verify_main(str(path)) == 1


def test_a_record_cannot_claim_another_version(tmp_path: Path) -> None:
    # Relabelling a version-1 record as version 2 (or the reverse) changes its hashed bytes.
    path = _fixture(tmp_path, "audit_v1.jsonl")
    lines = path.read_bytes().split(b"\n")
    record = json.loads(lines[2])
    record["canon"] = 2
    lines[2] = canonical_json(record, 2)
    path.write_bytes(b"\n".join(lines))
    result = AuditLog(path).verify()
    assert not result.ok
    assert result.first_bad == 2


def test_new_log_is_version_2_throughout(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    log = AuditLog(path, allow_plain_ids=True)
    log.append({"event": "sign_off", "actor": "a", "weight": 2.0**60, "n": 10**16})
    lines = path.read_bytes().splitlines()
    assert all(json.loads(line)["canon"] == 2 for line in lines)
    assert b'"n":10000000000000000' in lines[1]
    assert b'"weight":1152921504606847000' in lines[1]
    assert log.verify().ok


@pytest.mark.skipif(NODE is None, reason="Node is not installed")
def test_auditor_script_in_the_docs_recomputes_the_chain(tmp_path: Path) -> None:
    match = re.search(r"```js\n(?P<code>.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert match is not None, "docs/audit-log.md lost its JavaScript verifier"
    script = tmp_path / "verify_chain.js"
    script.write_text(match.group("code"), encoding="utf-8")
    path = tmp_path / "log.jsonl"
    log = AuditLog(path, pseudonym_key=b"k" * 32, store_inputs=True)
    log.append(
        {"event": "sign_off", "actor": "Zoë", "ratio": 2.0, "keys": {"\ue000": 1, "\U0001d518": 2}}
    )
    log.append(
        {
            "event": "explanation",
            "lead_id": "L-7",
            "score": 0.18343,
            "inputs": {"balance": 3115.0, "month": "aug", "pdays": None, "tiny": 1e-7},
            "reason": "Balance of 3,115 EUR raised the score.",
        }
    )
    log.append({"event": "review_decision", "links_to": 2, "weight": 1e21, "note": "a\tb\u2028"})
    ok = subprocess.run([str(NODE), str(script), str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: 4 lines")
    assert ok.stdout.split()[-1] == log.verify().head_hash
    # The script is not a rubber stamp: an edited record fails it.
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"0.18343", b"0.28343")
    path.write_bytes(b"\n".join(lines))
    bad = subprocess.run([str(NODE), str(script), str(path)], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "record 2" in bad.stderr


@pytest.mark.skipif(NODE is None, reason="Node is not installed")
def test_auditor_script_follows_a_purge_anchor(tmp_path: Path) -> None:
    match = re.search(r"```js\n(?P<code>.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert match is not None
    script = tmp_path / "verify_chain.js"
    script.write_text(match.group("code"), encoding="utf-8")
    now = [dt.datetime(2020, 1, 1, tzinfo=dt.UTC)]
    path = tmp_path / "log.jsonl"
    log = AuditLog(path, allow_plain_ids=True, clock=lambda: now[0])
    for i in range(3):  # three old records, then two recent ones
        log.append({"event": "sign_off", "actor": f"old-{i}", "share": i / 3})
    now[0] = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for i in range(2):
        log.append({"event": "sign_off", "actor": f"new-{i}", "share": 1e-7 * i})
    assert log.purge(older_than_days=365, actor="dpo") == 3
    assert b'"kind":"anchor"' in path.read_bytes().split(b"\n")[1]
    done = subprocess.run([str(NODE), str(script), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == log.verify().head_hash
