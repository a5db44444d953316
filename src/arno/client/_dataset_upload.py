"""Sending a dataset version's content: ask the server which pieces it lacks, build packs of
those in threads, PUT them (four at a time, retried), then PUT the manifest.

Nothing here remembers what was sent: a rerun after an interruption asks the server again and
sends only the pieces still absent, so an upload resumes where it stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from arno.client._dataset_files import run_all
from arno.core.errors import Conflict, InvalidInput
from arno.core.packs import PackWriter

PACK_SIZE = 32 << 20
"""Raw bytes of pieces gathered into one pack."""
UPLOAD_WORKERS = 4
ASK_BATCH = 100_000

Spans = dict[str, tuple[str, int, int]]
"""piece hash -> (local file, offset, length)."""


@dataclass(slots=True)
class UploadStats:
    pieces: int = 0
    packs: int = 0
    raw_bytes: int = 0
    pack_bytes: int = 0


def missing_pieces(session: Any, hashes: list[str]) -> list[str]:
    """The pieces among ``hashes`` the server does not store, in the order given."""
    missing: set[str] = set()
    for i in range(0, len(hashes), ASK_BATCH):
        answer = session.post("datasets/pieces/missing", {"hashes": hashes[i:i + ASK_BATCH]},
                              retry=True)
        missing.update(answer["missing"])
    return [h for h in hashes if h in missing]


def plan_packs(hashes: list[str], spans: Spans, pack_size: int) -> list[list[str]]:
    """Consecutive pieces grouped into packs of about ``pack_size`` raw bytes."""
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for h in hashes:
        length = spans[h][2]
        if current and size + length > pack_size:
            groups.append(current)
            current, size = [], 0
        current.append(h)
        size += length
    if current:
        groups.append(current)
    return groups


def build_pack(group: list[str], spans: Spans) -> tuple[str, bytes, int]:
    """``(pack_hash, pack_bytes, raw_bytes)`` for the pieces in ``group``, each read back from
    its file and checked: a file changed since it was hashed raises InvalidInput naming it."""
    writer = PackWriter()
    handles: dict[str, BinaryIO] = {}
    raw = 0
    try:
        for h in group:
            source, offset, length = spans[h]
            fh = handles.get(source)
            if fh is None:
                try:
                    fh = handles[source] = open(source, "rb")  # noqa: SIM115 - closed below
                except OSError as exc:
                    raise InvalidInput(f"cannot read {source}: {exc.strerror or exc}") from None
            fh.seek(offset)
            data = fh.read(length)
            if len(data) != length:  # content is checked by the server, piece by piece
                raise InvalidInput(f"{source} changed since it was added; add it again")
            writer.add(h, data)
            raw += length
    finally:
        for fh in handles.values():
            fh.close()
    pack_hash, body, _members = writer.finish()
    return pack_hash, body, raw


def send_pieces(
    session: Any,
    spans: Spans,
    *,
    only: list[str] | None = None,
    pack_size: int = PACK_SIZE,
    progress: Callable[[str, int], None] | None = None,
    advance: Callable[[int], None] | None = None,
    workers: int = UPLOAD_WORKERS,
) -> UploadStats:
    """Send every piece in ``spans`` (or in ``only``) that the server lacks.

    ``progress(description, total)`` announces the phase, ``advance(n)`` reports raw bytes
    sent. The first failure stops the upload and raises; what was sent stays stored.
    """
    hashes = list(only) if only is not None else list(spans)
    todo = missing_pieces(session, hashes) if hashes else []
    groups = plan_packs(todo, spans, pack_size)
    stats = UploadStats(pieces=len(todo))
    if progress is not None:
        progress("uploading", sum(spans[h][2] for h in todo))
    if not groups:
        return stats

    stop = threading.Event()

    def one(group: list[str]) -> tuple[int, int]:
        if stop.is_set():
            return 0, 0
        try:
            pack_hash, body, raw = build_pack(group, spans)
            try:
                session.put_bytes(f"datasets/packs/{pack_hash}", body)
            except InvalidInput as exc:  # a piece whose file changed after it was hashed
                piece = exc.details.get("piece")
                if piece in spans:
                    raise InvalidInput(f"{spans[piece][0]} changed since it was added; "
                                       "add it again") from None
                raise
        except BaseException:
            stop.set()  # the others stop too: a rerun sends what is still missing
            raise
        if advance is not None:
            advance(raw)
        return raw, len(body)

    for raw, packed in run_all(one, groups, workers, "arno-upload"):
        stats.packs += 1
        stats.raw_bytes += raw
        stats.pack_bytes += packed
    return stats


def put_manifest(
    session: Any,
    version_id: str,
    entries: list[dict[str, Any]],
    spans: Spans,
    *,
    pack_size: int = PACK_SIZE,
) -> dict[str, Any]:
    """PUT the manifest; when the server says pieces are missing (collected since they were
    sent), send those again from the local files and retry."""
    for attempt in range(3):
        try:
            info: dict[str, Any] = session.put(f"datasets/{version_id}/manifest",
                                               {"files": entries})
            return info
        except Conflict as exc:
            missing = exc.details.get("missing") if exc.details else None
            if not missing or attempt == 2:
                raise
            lacking = [h for h in missing if h not in spans]
            if lacking:
                raise Conflict(f"the server no longer stores piece {lacking[0]} and no local "
                               "file holds it; add the files again") from None
            send_pieces(session, spans, only=list(missing), pack_size=pack_size)
    raise AssertionError("not reached")
