"""Versioned datasets: versions and their manifests, pieces, packs (streamed in, read whole or
by byte range), garbage collection.

Large JSON bodies (a manifest of many files, 100k piece hashes) are read here and validated in
a worker thread, so the event loop never stalls on them.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from arno.blobstore import check_hash
from arno.core.dataset_schemas import (
    DatasetCreate,
    DatasetDiff,
    DatasetFilesPage,
    DatasetVersionOut,
    GcResult,
    Manifest,
    MissingPieces,
    PackOut,
    PieceHashes,
    PieceLocations,
    SquashRequest,
)
from arno.core.limits import INT64_MAX
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.dataset_query import DatasetQuery
from arno.services.datasets_change import DatasetChange
from arno.services.principal import Principal

router = APIRouter(tags=["datasets"])
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]
M = TypeVar("M", bound=BaseModel)
Hash = Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$", description="BLAKE3 of the pack")]

RANGE_IN_MEMORY = 8 * 1024 * 1024
"""Ranges up to this size are read in one call; longer ones are streamed."""
STREAM_STEP = 4 * 1024 * 1024
IMMUTABLE = "private, max-age=31536000, immutable"


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


async def _body(request: Request, model: type[M]) -> M:
    return await run_in_threadpool(_parse, model, await request.body())


def _json(model: BaseModel, status: int = 200) -> Response:
    """A response serialised straight from its model (no second validation)."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


# ---- pieces and packs (literal paths first) ---------------------------------------------------


@router.post("/datasets/pieces/missing", response_model=MissingPieces)
async def missing_pieces(request: Request, who: Who) -> Response:
    """Which of these pieces the server does not store (at most 100k per request)."""
    svc: Services = request.app.state.services
    req = await _body(request, PieceHashes)
    missing = await run_in_threadpool(svc.dataset_packs.missing, req.hashes)
    return _json(MissingPieces(missing=missing))


@router.post("/datasets/pieces/locate", response_model=PieceLocations)
async def locate_pieces(request: Request, who: Who) -> Response:
    """Where each piece lives: ``[pack, offset, length, size]``; 404 names an unknown one."""
    svc: Services = request.app.state.services
    req = await _body(request, PieceHashes)
    found = await run_in_threadpool(svc.dataset_packs.locate, req.hashes)
    return _json(PieceLocations(pieces={h: tuple(p) for h, p in found.items()}))  # type: ignore[misc]


@router.put("/datasets/packs/{hash}", response_model=PackOut)
async def upload_pack(hash: Hash, request: Request, who: Who) -> PackOut:
    """Receive a pack named by the BLAKE3 of its bytes; every member is verified before it is
    stored (422 naming the bad piece). Sending a stored pack again is harmless."""
    svc: Services = request.app.state.services
    return await svc.blobs.put_verified(request.stream(), hash, what="pack",
                                        accept=svc.dataset_packs.ingest)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """``(start, end)`` (end exclusive) of a single ``bytes=`` range; None to send the whole
    pack (no header, or one this server ignores); ``"unsatisfiable"`` for 416."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first.strip():  # the last N bytes
            n = int(last)
            return (max(0, size - n), size) if n > 0 and size > 0 else "unsatisfiable"
        start = int(first)
        end = int(last) + 1 if last.strip() else size
    except ValueError:
        return None
    if start >= size:
        return "unsatisfiable"
    if start < 0 or end <= start:
        return None
    return start, min(end, size)


@router.get("/datasets/packs/{hash}", response_class=Response, responses={
    200: {"description": "The pack", "content": {"application/octet-stream": {}}},
    206: {"description": "The bytes of a range", "content": {"application/octet-stream": {}}},
})
def download_pack(hash: Hash, request: Request, svc: Svc, who: Who) -> Response:
    """The pack's bytes; ``Range: bytes=a-b`` answers 206 with just those bytes, so one
    member is read without the whole pack (local and S3 stores alike)."""
    check_hash(hash)
    size = svc.dataset_packs.size(hash)
    headers = {"accept-ranges": "bytes", "x-arno-hash": hash, "cache-control": IMMUTABLE}
    wanted = _byte_range(request.headers.get("range"), size)
    if wanted == "unsatisfiable":
        return JSONResponse(
            {"error": {"code": "range_not_satisfiable",
                       "message": f"range {request.headers.get('range')} is outside the "
                                  f"pack's {size} bytes"}},
            status_code=416, headers={"content-range": f"bytes */{size}"},
        )
    if wanted is None:
        local = svc.store.local_path(hash)
        if local is not None and "range" not in request.headers:
            return FileResponse(local, media_type="application/octet-stream", headers=headers)
        headers["content-length"] = str(size)
        return StreamingResponse(svc.store.iter_chunks(hash), headers=headers,
                                 media_type="application/octet-stream")
    assert isinstance(wanted, tuple)
    start, end = wanted
    headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    if end - start <= RANGE_IN_MEMORY:
        return Response(svc.store.read_range(hash, start, end - start), status_code=206,
                        headers=headers, media_type="application/octet-stream")
    headers["content-length"] = str(end - start)

    def steps() -> object:
        for at in range(start, end, STREAM_STEP):
            yield svc.store.read_range(hash, at, min(STREAM_STEP, end - at))

    return StreamingResponse(steps(), status_code=206, headers=headers,  # type: ignore[arg-type]
                             media_type="application/octet-stream")


@router.post("/datasets/gc", response_model=GcResult)
def collect_garbage(svc: Svc, who: Who) -> GcResult:
    """Delete the packs no version refers to, once older than the grace period (admin)."""
    return svc.dataset_packs.collect_all(who)


@router.post("/datasets/squash", response_model=DatasetVersionOut, status_code=201)
def squash(body: SquashRequest, svc: Svc, who: Who) -> DatasetVersionOut:
    return svc.datasets.squash(body, who)


# ---- versions ---------------------------------------------------------------------------------


@router.post("/datasets", response_model=DatasetVersionOut, status_code=201)
def create_version(body: DatasetCreate, svc: Svc, who: Who) -> DatasetVersionOut:
    return svc.datasets.create(body, who)


@router.get("/datasets", response_model=list[DatasetVersionOut])
def list_versions(
    svc: Svc,
    who: Who,
    project: str | None = None,
    name: str | None = None,
    partial_name: str | None = None,
    tags: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    only_final: bool = False,
    ids: Annotated[list[str], Query()] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=0, le=INT64_MAX)] = 500,
) -> list[DatasetVersionOut]:
    """Newest first. ``tags``: versions with every one of them; ``ids`` repeatable or
    comma-separated; ``project`` includes its subprojects."""
    id_list = [i.strip() for part in ids for i in part.split(",") if i.strip()]
    return svc.datasets.list(DatasetQuery(
        project=project, name=name, partial_name=partial_name, tags=tags,
        only_final=only_final, ids=id_list, limit=limit,
    ))


@router.get("/datasets/{vid}", response_model=DatasetVersionOut)
def get_version(vid: str, svc: Svc, who: Who) -> DatasetVersionOut:
    return svc.datasets.get(vid)


@router.put("/datasets/{vid}/manifest", response_model=DatasetVersionOut)
async def put_manifest(vid: str, request: Request, who: Who) -> Response:
    """Replace the draft's manifest (complete: inherited files included). 409 with
    ``details.missing`` when pieces are not stored yet; 409 once the version is final."""
    svc: Services = request.app.state.services
    manifest = await _body(request, Manifest)
    out = await run_in_threadpool(svc.datasets.put_manifest, vid, manifest.files, who)
    return _json(out)


@router.get("/datasets/{vid}/manifest", response_model=Manifest)
def get_manifest(vid: str, svc: Svc, who: Who) -> Response:
    return Response(svc.datasets.manifest_json(vid), media_type="application/json")


@router.get("/datasets/{vid}/diff", response_model=DatasetDiff)
def diff(vid: str, svc: Svc, who: Who, against: str | None = None) -> Response:
    """Against another version, or by default against the merged parents."""
    return _json(svc.datasets.diff(vid, against))


@router.get("/datasets/{vid}/files", response_model=DatasetFilesPage)
def list_files(vid: str, svc: Svc, who: Who, prefix: str = "", status: str = "all",
               offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
               limit: Annotated[int, Query(ge=0, le=INT64_MAX)] = 200) -> Response:
    return _json(svc.datasets.files(vid, prefix=prefix, status=status, offset=offset,
                                    limit=limit))


@router.post("/datasets/{vid}/finalize", response_model=DatasetVersionOut)
def finalize(vid: str, svc: Svc, who: Who) -> DatasetVersionOut:
    return svc.datasets.finalize(vid, who)


@router.patch("/datasets/{vid}/dataset", response_model=DatasetVersionOut)
def change(vid: str, body: DatasetChange, svc: Svc, who: Who) -> DatasetVersionOut:
    """Rename or move the whole dataset (``name``, ``project``: every version; 409 when the
    project already has a dataset of that name) and set this draft version's ``version`` (409
    once final, or when another version has it). The owner of every version, or an admin."""
    return svc.datasets.change(vid, body, who)


@router.delete("/datasets/{vid}", status_code=204)
def delete_version(vid: str, svc: Svc, who: Who, force: bool = False) -> Response:
    svc.datasets.delete(vid, who, force=force)
    return Response(status_code=204)
