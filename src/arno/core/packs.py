"""The pack format: many dataset pieces (whole small files, or chunks of large ones) in one
stored object, each readable on its own.

A pack is::

    member_0 member_1 ... member_n-1  index  footer

- a *member* is one piece, framed: one codec byte (``0`` stored as is, ``1`` zstandard) then the
  payload. A piece is named by the BLAKE3 hash of its *decoded* bytes, so the same content has
  the same name whether or not it was compressed;
- the *index* is zstandard-compressed JSON: ``[[piece_hash, offset, length, size], ...]`` where
  ``offset``/``length`` locate the framed member in the pack and ``size`` is the decoded size;
- the *footer* is 16 bytes: the index length (8 bytes, little-endian) and ``MAGIC``.

The pack itself is named by the BLAKE3 hash of all its bytes (it lives in the blob store like any
blob). Both the SDK, which builds packs, and the server, which checks every member before it
accepts a pack, use this module.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from typing import BinaryIO

import zstandard
from blake3 import blake3

from arno.core.errors import IntegrityError, InvalidInput

MAGIC = b"ARNOPAK1"
FOOTER = struct.Struct("<Q8s")
RAW, ZSTD = 0, 1
ZSTD_LEVEL = 3
TRIAL = 4096
"""Bytes test-compressed before a piece is compressed whole."""
WORTH = 0.9
"""Compression is kept only when it saves at least 10%."""
MAX_INDEX_BYTES = 64 * 1024 * 1024


_CODEC_BYTE = {RAW: bytes([RAW]), ZSTD: bytes([ZSTD])}


@dataclass(frozen=True, slots=True)
class Member:
    """Where one piece sits in a pack."""

    hash: str
    offset: int
    length: int
    size: int


def encode_piece(data: bytes | memoryview, *, compress: bool = True) -> tuple[int, bytes]:
    """``(codec, payload)`` for a member holding ``data``: zstandard only when that pays.

    A quick trial on the first few KB at a fast level decides first, so incompressible data
    (media, archives, random bytes) costs almost nothing to skip.
    """
    view = memoryview(data)
    if compress and len(view) >= 64:
        trial = view[:TRIAL]
        if len(zstandard.ZstdCompressor(level=1).compress(trial)) <= WORTH * len(trial):
            packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(view)
            if len(packed) <= WORTH * len(view):
                return ZSTD, packed
    return RAW, data if isinstance(data, bytes) else view.tobytes()


def decode_member(framed: bytes | memoryview, expected_hash: str, size: int) -> bytes:
    """The piece's bytes from its framed member, checked against its hash and size.

    Raises IntegrityError when the member is damaged or is not the piece it claims to be.
    """
    data = _checked(framed, expected_hash, size)
    return data if isinstance(data, bytes) else data.tobytes()


def _checked(framed: bytes | memoryview, expected_hash: str, size: int) -> bytes | memoryview:
    """The decoded piece after checking it: a view into ``framed`` when it is stored as is."""
    view = memoryview(framed)
    if not view:
        raise IntegrityError(f"piece {expected_hash} is empty in storage")
    codec = view[0]
    data: bytes | memoryview
    try:
        if codec == RAW:
            data = view[1:]
        elif codec == ZSTD:
            data = zstandard.ZstdDecompressor().decompress(view[1:], max_output_size=size)
        else:
            raise IntegrityError(f"piece {expected_hash} has an unknown codec {codec}")
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"piece {expected_hash} cannot be decompressed: {exc}") from None
    if len(data) != size or blake3(data).hexdigest() != expected_hash:
        raise IntegrityError(f"piece {expected_hash} does not match its hash")
    return data


class PackWriter:
    """Builds one pack in memory: ``add`` pieces, then ``finish`` for its bytes and hash."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._members: list[Member] = []
        self._seen: set[str] = set()

    @property
    def size(self) -> int:
        return self._buf.tell()

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, piece_hash: object) -> bool:
        return piece_hash in self._seen

    def add(self, piece_hash: str, data: bytes | memoryview, *, compress: bool = True) -> None:
        """Append a piece (``piece_hash`` must be the BLAKE3 hash of ``data``)."""
        if piece_hash in self._seen:
            return
        codec, payload = encode_piece(data, compress=compress)
        offset = self._buf.tell()
        self._buf.write(_CODEC_BYTE[codec])
        self._buf.write(payload)
        self._members.append(Member(piece_hash, offset, 1 + len(payload), len(data)))
        self._seen.add(piece_hash)

    def finish(self) -> tuple[str, bytes, list[Member]]:
        """``(pack_hash, pack_bytes, members)``; the writer is spent afterwards."""
        rows = [[m.hash, m.offset, m.length, m.size] for m in self._members]
        index = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(
            json.dumps(rows, separators=(",", ":")).encode()
        )
        self._buf.write(index)
        self._buf.write(FOOTER.pack(len(index), MAGIC))
        data = self._buf.getvalue()
        self._buf = io.BytesIO()
        return blake3(data, max_threads=blake3.AUTO).hexdigest(), data, list(self._members)


def read_index(stream: BinaryIO, total_size: int) -> list[Member]:
    """The members of the pack in ``stream`` (seekable), validated against its size.

    Raises InvalidInput when the bytes are not a well-formed pack.
    """
    if total_size < FOOTER.size:
        raise InvalidInput("not a pack: too short")
    stream.seek(total_size - FOOTER.size)
    index_len, magic = FOOTER.unpack(stream.read(FOOTER.size))
    index_start = total_size - FOOTER.size - index_len
    if magic != MAGIC or index_len > MAX_INDEX_BYTES or index_start < 0:
        raise InvalidInput("not a pack: bad footer")
    stream.seek(index_start)
    try:
        raw = zstandard.ZstdDecompressor().decompress(
            stream.read(index_len), max_output_size=16 * MAX_INDEX_BYTES
        )
        rows = json.loads(raw)
        members = [Member(str(h), int(o), int(n), int(s)) for h, o, n, s in rows]
    except (zstandard.ZstdError, ValueError, TypeError) as exc:
        raise InvalidInput(f"not a pack: unreadable index ({exc})") from None
    end = 0
    for m in members:
        if m.offset != end or m.length < 1 or m.size < 0 or len(m.hash) != 64:
            raise InvalidInput("not a pack: members overlap or leave gaps")
        end = m.offset + m.length
    if end != index_start:
        raise InvalidInput("not a pack: index does not cover the members")
    return members


def check_members(stream: BinaryIO, members: list[Member]) -> None:
    """Check every member against its hash without keeping the bytes (members stored as is
    are hashed in place). Raises MemberError naming the first that does not match."""
    stream.seek(0)
    buf = bytearray(max((m.length for m in members), default=0))
    view = memoryview(buf)
    for done, m in enumerate(members):
        framed = view[: m.length]
        if stream.readinto(framed) != m.length:  # type: ignore[attr-defined]
            raise MemberError(done, f"piece {m.hash} is cut short")
        try:
            _checked(framed, m.hash, m.size)
        except IntegrityError as exc:
            raise MemberError(done, exc.message) from None


class MemberError(IntegrityError):
    """A member of a pack that is not what the index says; ``index`` is its position."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
