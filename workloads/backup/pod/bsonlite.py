"""Just enough BSON to read a mongodump archive: document boundaries and the top-level fields of oplog entries.

Reads the element types of the BSON 1.1 spec; values the backup does not look at (binary, regex, code, ...) are
skipped or kept as raw bytes. Nothing here writes BSON.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

_INT32 = struct.Struct("<i")
_UINT32_PAIR = struct.Struct("<II")
_INT64 = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")
_FIXED_SIZES = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0x06: 0, 0x0A: 0}
_NO_VALUE = (0x06, 0x0A, 0x7F, 0xFF)


class BSONError(ValueError):
    """The bytes are not a well-formed BSON document."""


class Timestamp(NamedTuple):
    """A BSON timestamp, ordered like the server orders them."""

    seconds: int
    """Seconds since the Unix epoch."""
    increment: int
    """Ordinal of the operation within its second."""


def document_length(data: bytes, offset: int = 0) -> int:
    """The declared length of the document starting at `offset` (its first four bytes, little-endian)."""
    if len(data) - offset < 4:
        raise BSONError("truncated document length")
    return int(_INT32.unpack_from(data, offset)[0])


def decode(document: bytes) -> dict[str, Any]:
    """A document as a dict: strings, numbers, booleans, timestamps, nested documents and arrays (as lists)."""
    value, end = _document(document, 0)
    if end != len(document):
        raise BSONError(f"{len(document) - end} bytes after the document")
    return value


def _document(data: bytes, start: int) -> tuple[dict[str, Any], int]:
    length = document_length(data, start)
    end = start + length
    if length < 5 or end > len(data) or data[end - 1] != 0:
        raise BSONError(f"bad document length {length} at offset {start}")
    fields: dict[str, Any] = {}
    position = start + 4
    while position < end - 1:
        kind = data[position]
        name, position = _cstring(data, position + 1, end)
        fields[name], position = _value(kind, data, position, end)
    if position != end - 1:
        raise BSONError(f"document at offset {start} overruns its length")
    return fields, end


def _cstring(data: bytes, start: int, limit: int) -> tuple[str, int]:
    nul = data.find(b"\x00", start, limit)
    if nul < 0:
        raise BSONError(f"unterminated name at offset {start}")
    return data[start:nul].decode("utf-8", errors="replace"), nul + 1


def _string(data: bytes, start: int, limit: int) -> tuple[str, int]:
    size = document_length(data, start)
    end = start + 4 + size
    if size < 1 or end > limit or data[end - 1] != 0:
        raise BSONError(f"bad string length {size} at offset {start}")
    return data[start + 4 : end - 1].decode("utf-8", errors="replace"), end


def _value(kind: int, data: bytes, position: int, limit: int) -> tuple[Any, int]:  # noqa: PLR0911, PLR0912 (one branch per type)
    if kind == 0x02 or kind in (0x0D, 0x0E):  # string, JavaScript code, symbol
        return _string(data, position, limit)
    if kind == 0x03:
        return _document(data, position)
    if kind == 0x04:
        array, end = _document(data, position)
        return list(array.values()), end
    if kind == 0x05:  # binary: length, subtype, bytes
        size = document_length(data, position)
        end = position + 5 + size
        if size < 0 or end > limit:
            raise BSONError(f"bad binary length at offset {position}")
        return bytes(data[position + 5 : end]), end
    if kind == 0x0B:  # regular expression: two cstrings
        _, after_pattern = _cstring(data, position, limit)
        return None, _cstring(data, after_pattern, limit)[1]
    if kind == 0x0C:  # DBPointer: string, ObjectId
        return None, _string(data, position, limit)[1] + 12
    if kind == 0x0F:  # code with scope: total length
        return None, position + document_length(data, position)
    if kind in _NO_VALUE:
        return None, position
    width = _FIXED_SIZES.get(kind)
    if width is None:
        raise BSONError(f"unknown element type 0x{kind:02x} at offset {position}")
    end = position + width
    if end > limit:
        raise BSONError(f"truncated value at offset {position}")
    if kind == 0x10:
        return _INT32.unpack_from(data, position)[0], end
    if kind in (0x12, 0x09):
        return _INT64.unpack_from(data, position)[0], end
    if kind == 0x11:  # increment (low word), then seconds (high word)
        increment, seconds = _UINT32_PAIR.unpack_from(data, position)
        return Timestamp(seconds, increment), end
    if kind == 0x01:
        return _DOUBLE.unpack_from(data, position)[0], end
    if kind == 0x08:
        return data[position] != 0, end
    return bytes(data[position:end]), end
