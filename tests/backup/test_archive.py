"""Reading mongodump archives: counts, views, the oplog's span and tallies, and archives that did not finish."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import pytest

from tests.backup.fakes.bsonenc import Ts, build_archive, encode
from workloads.backup.pod.archive import ArchiveError, summarize, summarize_file
from workloads.backup.pod.bsonlite import BSONError, Timestamp, decode

DATASET: dict[str, Any] = {
    "tool_version": "100.12.2",
    "server_version": "8.0.4",
    "collections": {"db.a": {"documents": 5}, "db.b": {"documents": 0}, "db.v": {"type": "view"}},
    "oplog": [
        {"op": "n", "ns": "", "ts": [100, 3]},
        {"op": "i", "ns": "db.a", "ts": [100, 4]},
        {"op": "c", "ns": "admin.$cmd", "ts": [101, 1], "o": {"applyOps": [
            {"op": "i", "ns": "db.b", "o": {"_id": 1}}, {"op": "d", "ns": "db.a", "o": {"_id": 2}}]}},
        {"op": "c", "ns": "db.$cmd", "ts": [99, 9], "o": {"create": "c"}},
    ],
}  # fmt: skip


def test_a_whole_archive_is_summarized() -> None:
    summary = summarize(io.BytesIO(build_archive(DATASET, segment=2)))
    assert (summary.tool_version, summary.server_version, summary.format_version) == ("100.12.2", "8.0.4", "0.1")
    assert summary.collections == {"db.a": 5, "db.b": 0}
    assert summary.views == ["db.v"]
    oplog = summary.oplog
    assert (oplog.entries, oplog.start, oplog.end) == (4, Timestamp(99, 9), Timestamp(101, 1))
    assert oplog.as_json()["operations"] == {"db.a": {"d": 1, "i": 1}, "db.b": {"i": 1}}
    assert oplog.as_json()["commands"] == {"db": 1}


@pytest.mark.parametrize("cut", [10, 200, -30, -5])
def test_an_archive_that_stops_early_is_refused(cut: int) -> None:
    data = build_archive(DATASET)[:cut]
    with pytest.raises(ArchiveError, match=r"did not finish|ends inside"):
        summarize(io.BytesIO(data))


def test_an_archive_cut_between_segments_is_refused() -> None:
    data = build_archive(DATASET)
    first_eof = data.index(encode({"db": "db", "collection": "a", "EOF": True, "CRC": 0}))
    with pytest.raises(ArchiveError, match=r"ends before the EOF of db\.a: the dump did not finish"):
        summarize(io.BytesIO(data[:first_eof]))


def test_a_cut_gzip_stream_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "archive.gz"
    path.write_bytes(gzip.compress(build_archive(DATASET))[:-12])
    with pytest.raises(ArchiveError, match="not a complete gzip stream"):
        summarize_file(path)


def test_an_archive_without_oplog_or_magic_is_refused() -> None:
    data = build_archive(DATASET)
    oplog_at = data.index(encode({"db": "", "collection": "oplog", "EOF": False, "CRC": 0}))
    with pytest.raises(ArchiveError, match=r"no oplog: mongodump must run with --oplog"):
        summarize(io.BytesIO(data[:oplog_at]))
    with pytest.raises(ArchiveError, match="not a mongodump archive"):
        summarize(io.BytesIO(b"PK\x03\x04" + data[4:]))


def test_bson_values() -> None:
    document = {"s": "é", "i": -5, "l": 2**40, "f": 1.5, "b": True, "n": None, "t": Ts(7, 3), "d": {"x": [1, "y"]},
                "bin": b"\x01\x02"}  # fmt: skip
    decoded = decode(encode(document))
    assert decoded == {**document, "t": Timestamp(7, 3)}
    with pytest.raises(BSONError):
        decode(encode(document)[:-1])
    with pytest.raises(BSONError, match="unknown element type"):
        decode(b"\x08\x00\x00\x00\x20a\x00\x00")
