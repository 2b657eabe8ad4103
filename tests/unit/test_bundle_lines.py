"""The lines of a bundle's stream members and of a JSONL export: encoded, decoded, refused."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from fund.journal.base import Entry, entry_hash
from fund.journal.bundle import decode_line, encode_line, referenced_blobs
from fund.journal.jsonl import blob_line, export_line, parse_blob, parse_entry

DIGEST_A, DIGEST_B = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()


def entry(payload: str, seq: int = 1) -> Entry:
    prev = "0" * 64
    return Entry("actor-1", seq, "Observation", "2024-01-01T00:00:00.000000Z", payload, prev,
                 entry_hash("actor-1", seq, "Observation", "2024-01-01T00:00:00.000000Z",
                            payload, prev))


@pytest.mark.parametrize("payload", [
    '{"a":"1"}', '{"text":"caf\\u00e9 — ☃ \\"quoted\\" \\\\ \\n"}', "{}", "not json at all",
    '{"x":"\\u2028 line separator","y":"\\u0000"}',
])
def test_a_bundle_line_holds_the_payload_text_exactly(payload: str) -> None:
    original = entry(payload)
    line = encode_line(original)

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert list(json.loads(line)) == ["process_id", "seq", "kind", "ts", "payload",
                                      "prev_hash", "hash"]
    assert json.loads(line)["payload"] == payload
    assert decode_line(line.rstrip(b"\n")) == original


@pytest.mark.parametrize(("line", "problem"), [
    (b"{", "not JSON"),
    (b"[1, 2]", "not an entry: the fields must be"),
    (b'{"seq": 1, "process_id": "a", "kind": "k", "ts": "t", "payload": "{}", '
     b'"prev_hash": "p", "hash": "h"}', "not an entry: the fields must be"),
    (b'{"process_id": "a", "seq": true, "kind": "k", "ts": "t", "payload": "{}", '
     b'"prev_hash": "p", "hash": "h"}', "seq must be an integer"),
    (b'{"process_id": "a", "seq": 1, "kind": "k", "ts": "t", "payload": {}, '
     b'"prev_hash": "p", "hash": "h"}', "the rest strings"),
    (b'{"process_id": "a", "seq": 1, "kind": "k", "ts": "t", "payload": "{}", '
     b'"prev_hash": "p", "hash": "h", "extra": 1}', "not an entry: the fields must be"),
])
def test_a_line_that_is_not_an_entry_is_refused(line: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_line(line)


@pytest.mark.parametrize("payload", [
    '{"a":"1"}', '{"t":",\\"prev_hash\\":\\"x\\",\\"hash\\":\\"y\\"}"}',
    '{"nested":{"list":[1,"2",{"k":null}]},"u":"ü"}',
])
def test_a_jsonl_line_gives_back_the_stored_payload_text(payload: str) -> None:
    original = entry(payload)
    line = export_line(original)

    assert json.loads(line)["payload"] == json.loads(payload)
    assert parse_entry(line.rstrip("\n").encode()) == original


def test_a_blob_line_round_trips() -> None:
    line = blob_line(DIGEST_A, b"a")

    assert json.loads(line) == {"blob": DIGEST_A, "data": base64.b64encode(b"a").decode()}
    assert parse_blob(line.encode()) == (DIGEST_A, b"a")
    with pytest.raises(ValueError, match="not base64"):
        parse_blob(f'{{"blob":"{DIGEST_A}","data":"***"}}'.encode())
    with pytest.raises(ValueError, match="not a blob line"):
        parse_blob(b'{"blob":"abc","data":""}')


def test_referenced_blobs_are_listed_under_blobs_or_raw_at_any_depth() -> None:
    payload = json.dumps({"data": {"blobs": [DIGEST_A, "not-a-digest", DIGEST_A]},
                          "raw": [DIGEST_B], "other": [DIGEST_B.upper()], "x": "blobs"})

    assert referenced_blobs(payload) == [DIGEST_A, DIGEST_B]
    assert referenced_blobs('{"hash":"' + DIGEST_A + '"}') == []
    assert referenced_blobs('"blobs": not json') == []
