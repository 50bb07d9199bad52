"""What a mongodump archive holds, read from the archive itself: per-collection counts, the oplog's span, versions.

The format (mongo-tools `archive` package, "The Mongodump archive format specification"): a magic number, a header
document (format version, server and tool versions), one metadata document per collection, a terminator, then
namespace segments (a header document, data documents, a terminator) interleaved in any order, each namespace
closed by an EOF header and a terminator. `--oplog` adds the namespace with an empty database name and collection
`oplog`. `--gzip` with `--archive` compresses the whole stream.

The counts are those of the documents written, which is what mongorestore inserts before it replays the oplog;
the oplog tallies per namespace bound how far the restored counts may move from them during the replay.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .bsonlite import BSONError, Timestamp, decode, document_length

MAGIC = 0x8199E26D
TERMINATOR = -1
OPLOG_NAMESPACE = ("", "oplog")
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_MAX_DOCUMENT = 64 * 1024 * 1024  # far above the server's 16 MiB limit; larger means the stream is not BSON


class Readable(Protocol):
    """A binary stream (a file, a gzip stream, a pipe)."""

    def read(self, size: int = -1, /) -> bytes: ...


class ArchiveError(ValueError):
    """The file is not a complete mongodump archive."""


@dataclass
class OplogSpan:
    """The oplog entries the dump captured: `mongorestore --oplogReplay` replays them up to `end`."""

    entries: int = 0
    start: Timestamp | None = None
    end: Timestamp | None = None
    operations: dict[str, Counter[str]] = field(default_factory=dict)
    """Per namespace, how many inserts (`i`), updates (`u`) and deletes (`d`), transactions unpacked."""
    commands: Counter[str] = field(default_factory=Counter)
    """Per database, commands other than transactions (create, drop, ...): counts there cannot be bounded."""

    def as_json(self) -> dict[str, Any]:
        """The manifest's `oplog` block."""
        return {
            "entries": self.entries,
            "start": _timestamp_json(self.start),
            "end": _timestamp_json(self.end),
            "operations": {ns: dict(sorted(ops.items())) for ns, ops in sorted(self.operations.items())},
            "commands": dict(sorted(self.commands.items())),
        }


@dataclass
class ArchiveSummary:
    """What the manifest records about an archive."""

    format_version: str = ""
    server_version: str = ""
    tool_version: str = ""
    collections: dict[str, int] = field(default_factory=dict)
    """Documents per `db.collection` (every collection in the metadata, empty ones included; not views)."""
    views: list[str] = field(default_factory=list)
    oplog: OplogSpan = field(default_factory=OplogSpan)
    uncompressed_bytes: int = 0


def summarize_file(path: Path, *, compressed: bool = True) -> ArchiveSummary:
    """Read an archive file (gzip-compressed as `mongodump --archive --gzip` writes it) to its end."""
    try:
        with path.open("rb") as raw:
            stream: Readable = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            return summarize(stream)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ArchiveError(f"{path}: not a complete gzip stream ({error})") from error


def summarize(stream: Readable) -> ArchiveSummary:
    """Read an uncompressed archive stream to its end."""
    reader = _Reader(stream)
    magic = reader.uint32("magic number")
    if magic != MAGIC:
        raise ArchiveError(f"not a mongodump archive (magic number 0x{magic:08x})")
    summary = ArchiveSummary()
    header = _decoded(reader.document("archive header"), "archive header")
    summary.format_version = str(header.get("version", ""))
    summary.server_version = str(header.get("server_version", ""))
    summary.tool_version = str(header.get("tool_version", ""))
    _read_metadata(reader, summary)
    _read_namespaces(reader, summary)
    summary.uncompressed_bytes = reader.position
    return summary


def _read_metadata(reader: _Reader, summary: ArchiveSummary) -> None:
    while (data := reader.document_or_terminator("collection metadata")) is not None:
        entry = _decoded(data, "collection metadata")
        namespace = f"{entry.get('db')}.{entry.get('collection')}"
        if _metadata_type(entry.get("metadata")) == "view":
            summary.views.append(namespace)
        else:
            summary.collections.setdefault(namespace, 0)


def _read_namespaces(reader: _Reader, summary: ArchiveSummary) -> None:
    open_namespaces: set[tuple[str, str]] = set()
    closed: set[tuple[str, str]] = set()
    while not reader.at_end():
        header = _decoded(reader.document("namespace header"), "namespace header")
        key = (str(header.get("db", "")), str(header.get("collection", "")))
        if header.get("EOF"):
            if reader.document_or_terminator("terminator after EOF") is not None:
                raise ArchiveError(f"namespace {_name(key)}: data after its EOF header")
            open_namespaces.discard(key)
            closed.add(key)
            continue
        if key in closed:
            raise ArchiveError(f"namespace {_name(key)}: data after its EOF header")
        open_namespaces.add(key)
        for document in _segment(reader, key):
            if key == OPLOG_NAMESPACE:
                _add_oplog_entry(summary.oplog, _decoded(document, "oplog entry"))
            else:
                summary.collections[_name(key)] = summary.collections.get(_name(key), 0) + 1
        if key != OPLOG_NAMESPACE:
            summary.collections.setdefault(_name(key), 0)
    if open_namespaces:
        names = ", ".join(sorted(_name(key) for key in open_namespaces))
        raise ArchiveError(f"the archive ends before the EOF of {names}: the dump did not finish")
    if OPLOG_NAMESPACE not in closed:
        raise ArchiveError("the archive holds no oplog: mongodump must run with --oplog")


def _segment(reader: _Reader, key: tuple[str, str]) -> Iterator[bytes]:
    while (data := reader.document_or_terminator(f"a document of {_name(key)}")) is not None:
        yield data


def _add_oplog_entry(span: OplogSpan, entry: dict[str, Any]) -> None:
    span.entries += 1
    ts = entry.get("ts")
    if isinstance(ts, Timestamp):
        span.start = ts if span.start is None or ts < span.start else span.start
        span.end = ts if span.end is None or ts > span.end else span.end
    _tally(span, entry)


def _tally(span: OplogSpan, entry: dict[str, Any]) -> None:
    op, namespace = entry.get("op"), str(entry.get("ns", ""))
    if op in ("i", "u", "d"):
        span.operations.setdefault(namespace, Counter())[str(op)] += 1
    elif op == "c":
        command = entry.get("o") if isinstance(entry.get("o"), dict) else {}
        nested = command.get("applyOps") if command else None
        if isinstance(nested, list):
            for inner in nested:
                if isinstance(inner, dict):
                    _tally(span, inner)
        else:
            span.commands[namespace.split(".", 1)[0]] += 1


def _metadata_type(metadata: object) -> str:
    if not isinstance(metadata, str) or not metadata:
        return ""
    try:
        parsed = json.loads(metadata)
    except json.JSONDecodeError:
        return ""
    return str(parsed.get("type", "")) if isinstance(parsed, dict) else ""


def _decoded(data: bytes, what: str) -> dict[str, Any]:
    try:
        return decode(data)
    except BSONError as error:
        raise ArchiveError(f"{what}: {error}") from error


def _name(key: tuple[str, str]) -> str:
    return "oplog" if key == OPLOG_NAMESPACE else f"{key[0]}.{key[1]}"


def _timestamp_json(ts: Timestamp | None) -> dict[str, int] | None:
    return None if ts is None else {"t": ts.seconds, "i": ts.increment}


class _Reader:
    """Exact reads from a stream, counting bytes."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._peeked = b""
        self.position = 0

    def _read(self, size: int, what: str) -> bytes:
        data = self._peeked[:size]
        self._peeked = self._peeked[size:]
        while len(data) < size:
            chunk = self._stream.read(size - len(data))
            if not chunk:
                raise ArchiveError(f"the archive ends inside {what}: the dump did not finish")
            data += chunk
        self.position += size
        return data

    def at_end(self) -> bool:
        if not self._peeked:
            self._peeked = self._stream.read(1)
        return not self._peeked

    def uint32(self, what: str) -> int:
        return int(_UINT32.unpack(self._read(4, what))[0])

    def document(self, what: str) -> bytes:
        data = self.document_or_terminator(what)
        if data is None:
            raise ArchiveError(f"a terminator where {what} was expected")
        return data

    def document_or_terminator(self, what: str) -> bytes | None:
        prefix = self._read(4, what)
        length = document_length(prefix)
        if length == TERMINATOR:
            return None
        if length < 5 or length > _MAX_DOCUMENT:
            raise ArchiveError(f"{what}: impossible document length {length} at byte {self.position - 4}")
        return prefix + self._read(length - 4, what)
