"""Bytes sent to the server, stored under the hash the sender claims for them.

``BlobService.put_verified`` is the one upload path: the body is streamed to a temp file while
it is hashed (never held in memory, the hashing and writing done off the event loop), refused
when it passes the size cap or hashes to anything but the claimed hash, and only then stored
(or handed to a caller that checks more, such as a dataset pack's members, before storing).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import TypeVar, overload

from anyio.to_thread import run_sync

from arno.blobstore import BlobInfo, BlobStore, Hasher, check_hash
from arno.core.errors import InvalidInput, PayloadTooLarge

T = TypeVar("T")

FLUSH_BYTES = 4 * 1024 * 1024
"""Chunks are gathered up to this many bytes, then hashed and written in a worker thread."""


class BlobService:
    """Verified uploads into ``store``, received in its temp directory, at most
    ``max_upload_bytes`` each."""

    def __init__(self, store: BlobStore, *, max_upload_bytes: int) -> None:
        self.store = store
        self.max_upload_bytes = max_upload_bytes

    @overload
    async def put_verified(self, body: AsyncIterable[bytes], claimed: str, *,
                           what: str = ...) -> BlobInfo: ...

    @overload
    async def put_verified(self, body: AsyncIterable[bytes], claimed: str, *,
                           what: str = ..., accept: Callable[[str, Path, int], T]) -> T: ...

    async def put_verified(
        self,
        body: AsyncIterable[bytes],
        claimed: str,
        *,
        what: str = "content",
        accept: Callable[[str, Path, int], object] | None = None,
    ) -> object:
        """Receive ``body``, whose BLAKE3 the sender claims is ``claimed``, and store it.

        Over the size cap: PayloadTooLarge (413) as soon as the cap is passed. Another hash:
        InvalidInput (422) ``uploaded <what> hashes to <actual>, not <claimed>``, with both in
        its details; nothing is stored either way. Without ``accept``, content already stored
        is not received again (the body is drained) and the answer is the stored blob. With
        ``accept``, ``accept(hash, path, size)`` runs in a worker thread on the verified temp
        file and its answer is returned: it decides what is stored (and may move the file
        away); whatever is left of the file is removed afterwards.
        """
        check_hash(claimed)
        if accept is None and await run_sync(self.store.exists, claimed):
            async for _ in body:
                pass
            return BlobInfo(claimed, await run_sync(self.store.size, claimed))
        path, actual, size = await self._receive(body)
        try:
            if actual != claimed:
                raise InvalidInput(
                    f"uploaded {what} hashes to {actual}, not {claimed}",
                    details={"expected": claimed, "actual": actual},
                )
            if accept is None:
                return await run_sync(self.store.put_hashed_file, path, actual, size)
            return await run_sync(accept, actual, path, size)
        finally:
            path.unlink(missing_ok=True)

    async def _receive(self, body: AsyncIterable[bytes]) -> tuple[Path, str, int]:
        """Stream ``body`` to a temp file while hashing it: ``(path, hash, size)``."""
        limit = self.max_upload_bytes
        tmp_dir = self.store.tmp_dir
        tmp_dir.mkdir(parents=True, exist_ok=True)
        hasher = Hasher()
        size = 0
        pending: list[bytes] = []
        pending_bytes = 0

        def flush(chunks: list[bytes]) -> None:
            for chunk in chunks:
                hasher.update(chunk)
                out.write(chunk)

        # named *.part: one left by a crash is removed with the store's other stale temp files
        with tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False, prefix="upload-",
                                         suffix=".part") as out:
            try:
                async for chunk in body:
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"upload over {limit} bytes")
                    pending.append(chunk)
                    pending_bytes += len(chunk)
                    if pending_bytes >= FLUSH_BYTES:
                        await asyncio.to_thread(flush, pending)
                        pending, pending_bytes = [], 0
                if pending:
                    await asyncio.to_thread(flush, pending)
            except BaseException:
                out.close()
                os.unlink(out.name)
                raise
        return Path(out.name), hasher.hexdigest(), size
