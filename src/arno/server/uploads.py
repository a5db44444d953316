"""Request bodies too large for memory: streamed to a temp file while they are hashed."""

from __future__ import annotations

import asyncio
import os
import tempfile

from fastapi import Request

from arno.core.errors import PayloadTooLarge
from arno.services.container import Services
from arno.blobstore import Hasher

_FLUSH_BYTES = 4 * 1024 * 1024


async def receive_to_file(request: Request, limit: int) -> tuple[str, str, int]:
    """Stream the body to a temp file while hashing it; never hold it in memory."""
    svc: Services = request.app.state.services
    tmp_dir = svc.settings.home / "tmp"
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
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"upload over {limit} bytes")
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= _FLUSH_BYTES:  # hash and write off the event loop
                    await asyncio.to_thread(flush, pending)
                    pending, pending_bytes = [], 0
            if pending:
                await asyncio.to_thread(flush, pending)
        except BaseException:
            out.close()
            os.unlink(out.name)
            raise
    return out.name, hasher.hexdigest(), size
