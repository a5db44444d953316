"""Reading TensorBoard event files without TensorFlow or tensorboard.

An event file is a sequence of TFRecords: an 8-byte little-endian length, a masked CRC-32C
of those 8 bytes, the record, a masked CRC-32C of the record. Each record is an ``Event``
protobuf; the protobuf classes and the CRC come with tensorboardX (imported when a file is
read). A record whose CRC fails is skipped with a warning; a file cut short or a record that
does not parse raises ``InvalidInput`` naming the file and the byte offset.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arno.core.errors import InvalidInput

log = logging.getLogger("arno.tensorboard")

EVENT_FILE_MARK = "tfevents"


@dataclass
class Point:
    """One value read from an event file."""

    kind: str  # "scalar", "histogram" or "text"
    tag: str
    step: int
    wall_time: float
    value: Any  # float; (bucket limits, counts); str


@dataclass
class ReadReport:
    records: int = 0
    skipped: list[tuple[Path, int]] = field(default_factory=list)


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _crc32c() -> Any:
    try:
        from tensorboardX.crc32c import crc32c
    except ImportError as exc:  # pragma: no cover - tensorboardX is what ships the protobufs
        raise InvalidInput("reading TensorBoard files needs tensorboardX "
                           "(pip install tensorboardX)") from exc
    return crc32c


def event_files(root: Path) -> list[Path]:
    """Event files under ``root`` (a directory, searched recursively, or one file)."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and EVENT_FILE_MARK in p.name)


def check_framing(path: Path) -> int:
    """Walk the record headers of a file (lengths and their checksums, no bodies): the number
    of records, or ``InvalidInput`` naming the file and the offset where it breaks."""
    crc32c = _crc32c()
    size = path.stat().st_size
    count = 0
    offset = 0
    with path.open("rb") as fh:
        while offset < size:
            fh.seek(offset)
            head = fh.read(12)
            if len(head) < 12:
                raise InvalidInput(f"{path}: truncated record header at offset {offset}")
            (length,) = struct.unpack("<Q", head[:8])
            if _masked(crc32c(head[:8])) != struct.unpack("<I", head[8:])[0]:
                raise InvalidInput(f"{path}: corrupt record length at offset {offset}")
            offset += 12 + length + 4
            if offset > size:
                raise InvalidInput(f"{path}: truncated record at offset {offset - length - 16}")
            count += 1
    return count


def records(path: Path, report: ReadReport | None = None) -> Iterator[tuple[int, bytes]]:
    """The records of one TFRecord file, in order, with their byte offsets (read as a
    stream: a large file is never held whole)."""
    crc32c = _crc32c()
    offset = 0
    with path.open("rb") as fh:
        while True:
            head = fh.read(12)
            if not head:
                return
            if len(head) < 12:
                raise InvalidInput(f"{path}: truncated record header at offset {offset}")
            (length,) = struct.unpack("<Q", head[:8])
            if _masked(crc32c(head[:8])) != struct.unpack("<I", head[8:])[0]:
                raise InvalidInput(f"{path}: corrupt record length at offset {offset}")
            body = fh.read(length)
            tail = fh.read(4)
            if len(body) < length or len(tail) < 4:
                raise InvalidInput(f"{path}: truncated record at offset {offset}")
            if _masked(crc32c(body)) != struct.unpack("<I", tail)[0]:
                log.warning("arno: %s: record at offset %d fails its checksum; skipped", path,
                            offset)
                if report is not None:
                    report.skipped.append((path, offset))
            else:
                if report is not None:
                    report.records += 1
                yield offset, body
            offset += 12 + length + 4


def points(path: Path, report: ReadReport | None = None) -> Iterator[Point]:
    """The scalars, histograms and texts of one event file."""
    try:
        from tensorboardX.proto.event_pb2 import Event
    except ImportError as exc:  # pragma: no cover
        raise InvalidInput("reading TensorBoard files needs tensorboardX "
                           "(pip install tensorboardX)") from exc
    from google.protobuf.message import DecodeError

    for offset, body in records(path, report):
        event = Event()
        try:
            event.ParseFromString(body)
        except DecodeError:
            raise InvalidInput(f"{path}: the record at offset {offset} is not a TensorBoard "
                               "event") from None
        if not event.HasField("summary"):
            continue
        for value in event.summary.value:
            point = _point(value, int(event.step), float(event.wall_time))
            if point is not None:
                yield point


def _point(value: Any, step: int, wall: float) -> Point | None:
    which = value.WhichOneof("value")
    plugin = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
    if which == "simple_value":
        return Point("scalar", value.tag, step, wall, float(value.simple_value))
    if which == "histo":
        histo = value.histo
        return Point("histogram", value.tag, step, wall,
                     (list(histo.bucket_limit), list(histo.bucket)))
    if which == "tensor":
        tensor = value.tensor
        if plugin == "text" and tensor.string_val:
            text = "\n".join(s.decode("utf-8", "replace") for s in tensor.string_val)
            return Point("text", value.tag, step, wall, text)
        if plugin in ("scalars", "") and (tensor.float_val or tensor.double_val):
            number = tensor.float_val[0] if tensor.float_val else tensor.double_val[0]
            return Point("scalar", value.tag, step, wall, float(number))
    return None
