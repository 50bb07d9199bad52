"""A BSON encoder and a small decoder for the fake tools, written apart from the code under test."""

from __future__ import annotations

import gzip
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

MAGIC = struct.pack("<I", 0x8199E26D)
TERMINATOR = b"\xff\xff\xff\xff"


class Ts:
    """A BSON timestamp value for the encoder."""

    def __init__(self, seconds: int, increment: int) -> None:
        self.seconds, self.increment = seconds, increment


def _cstring(text: str) -> bytes:
    return text.encode() + b"\x00"


def encode(document: Mapping[str, Any]) -> bytes:
    """BSON of a dict: str, bool, int, float, None, bytes, Ts, dict, list."""
    body = b""
    for key, value in document.items():
        body += _element(key, value)
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def _element(key: str, value: Any) -> bytes:  # noqa: PLR0911 (one return per type)
    name = _cstring(key)
    if isinstance(value, bool):
        return b"\x08" + name + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return b"\x10" + name + struct.pack("<i", value)
        return b"\x12" + name + struct.pack("<q", value)
    if isinstance(value, float):
        return b"\x01" + name + struct.pack("<d", value)
    if isinstance(value, str):
        data = value.encode()
        return b"\x02" + name + struct.pack("<i", len(data) + 1) + data + b"\x00"
    if value is None:
        return b"\x0a" + name
    if isinstance(value, bytes):
        return b"\x05" + name + struct.pack("<i", len(value)) + b"\x00" + value
    if isinstance(value, Ts):
        return b"\x11" + name + struct.pack("<II", value.increment, value.seconds)
    if isinstance(value, dict):
        return b"\x03" + name + encode(value)
    if isinstance(value, list):
        return b"\x04" + name + encode({str(i): item for i, item in enumerate(value)})
    raise TypeError(type(value))


def top_level_strings(document: bytes) -> dict[str, str]:
    """The top-level string fields of a document (all the fake restore needs from oplog entries)."""
    fields: dict[str, str] = {}
    position, end = 4, len(document) - 1
    while position < end:
        kind = document[position]
        nul = document.index(b"\x00", position + 1)
        key = document[position + 1 : nul].decode()
        position = nul + 1
        if kind == 0x02:
            size = struct.unpack_from("<i", document, position)[0]
            fields[key] = document[position + 4 : position + 3 + size].decode()
            position += 4 + size
        elif kind in (0x03, 0x04):
            position += struct.unpack_from("<i", document, position)[0]
        elif kind == 0x05:
            position += 5 + struct.unpack_from("<i", document, position)[0]
        else:
            position += {0x01: 8, 0x08: 1, 0x09: 8, 0x10: 4, 0x11: 8, 0x12: 8, 0x0A: 0, 0x07: 12}[kind]
    return fields


def build_archive(dataset: Mapping[str, Any], segment: int = 3) -> bytes:
    """An uncompressed mongodump archive of `dataset` (see `tests.backup.fakes.DATASET`), segments interleaved."""
    collections: Mapping[str, Mapping[str, Any]] = dataset["collections"]
    out = bytearray(MAGIC)
    out += encode({
        "concurrent_collections": 4,
        "version": "0.1",
        "server_version": dataset.get("server_version", "8.0.17"),
        "tool_version": dataset.get("tool_version", "100.13.0"),
    })  # fmt: skip
    for namespace, spec in collections.items():
        db, collection = namespace.split(".", 1)
        metadata = {"options": {}, "indexes": [], "uuid": "00", "collectionName": collection}
        if spec.get("type") == "view":
            metadata["type"] = "view"
        out += encode({"db": db, "collection": collection, "metadata": json.dumps(metadata), "size": 0})
    out += TERMINATOR
    pending = {ns: int(spec.get("documents", 0)) for ns, spec in collections.items() if spec.get("type") != "view"}
    written = dict.fromkeys(pending, 0)
    while any(written[ns] < total for ns, total in pending.items()):
        for namespace, total in pending.items():
            todo = min(segment, total - written[namespace])
            if todo <= 0:
                continue
            db, collection = namespace.split(".", 1)
            out += encode({"db": db, "collection": collection, "EOF": False, "CRC": 0})
            for n in range(todo):
                number = written[namespace] + n
                out += encode(
                    {"_id": number, "name": f"item {number}", "payload": b"\x00" * int(dataset.get("pad", 0))}
                )
            out += TERMINATOR
            written[namespace] += todo
    for namespace in collections:
        db, collection = namespace.split(".", 1)
        out += encode({"db": db, "collection": collection, "EOF": True, "CRC": 0}) + TERMINATOR
    oplog: Sequence[Mapping[str, Any]] = dataset.get("oplog", [{"op": "n", "ns": "", "ts": [1_700_000_000, 1]}])
    out += encode({"db": "", "collection": "oplog", "EOF": False, "CRC": 0})
    for entry in oplog:
        document: dict[str, Any] = {"ts": Ts(*entry["ts"]), "v": 2, "op": entry["op"], "ns": entry["ns"]}
        document["o"] = entry.get("o", {"_id": 1})
        out += encode(document)
    out += TERMINATOR
    out += encode({"db": "", "collection": "oplog", "EOF": True, "CRC": 0}) + TERMINATOR
    return bytes(out)


def read_archive(data: bytes) -> tuple[dict[str, int], list[dict[str, str]]]:
    """(documents per namespace, oplog entries' string fields) of an uncompressed archive; raises when malformed."""
    if data[:4] != MAGIC:
        raise ValueError("not an archive")
    position = 4

    def next_document() -> bytes | None:
        nonlocal position
        if data[position : position + 4] == TERMINATOR:
            position += 4
            return None
        size = struct.unpack_from("<i", data, position)[0]
        if size < 5 or position + size > len(data):
            raise ValueError("truncated archive")
        document = data[position : position + size]
        position += size
        return document

    next_document()  # header
    counts: dict[str, int] = {}
    while (metadata := next_document()) is not None:
        fields = top_level_strings(metadata)
        if '"view"' not in fields["metadata"]:
            counts[f"{fields['db']}.{fields['collection']}"] = 0
    oplog: list[dict[str, str]] = []
    while position < len(data):
        header = next_document()
        if header is None:
            raise ValueError("terminator where a namespace header belongs")
        fields = top_level_strings(header)
        while (document := next_document()) is not None:
            if fields["db"] == "" and fields["collection"] == "oplog":
                oplog.append(top_level_strings(document))
            else:
                key = f"{fields['db']}.{fields['collection']}"
                counts[key] = counts.get(key, 0) + 1
    return counts, oplog


def gzip_archive(dataset: Mapping[str, Any]) -> bytes:
    """What `mongodump --archive --gzip` writes."""
    return gzip.compress(build_archive(dataset), compresslevel=1)
