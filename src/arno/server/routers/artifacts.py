"""Artifacts and the content-addressed blobs behind them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from arno.blobstore import check_hash
from arno.core.schemas import ArtifactCreate, ArtifactOut, BlobOut
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(tags=["artifacts"])
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]
Hash = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="BLAKE3 of the bytes")]
BYTES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The bytes", "content": {"application/octet-stream": {}}},
}


@router.get("/tasks/{task_id}/artifacts", response_model=list[ArtifactOut])
def list_artifacts(task_id: str, svc: Svc, who: Who) -> list[ArtifactOut]:
    return svc.artifacts.list(task_id)


@router.put("/tasks/{task_id}/artifacts/{name}", response_model=ArtifactOut)
def register_artifact(
    task_id: str, name: str, body: ArtifactCreate, svc: Svc, who: Who
) -> ArtifactOut:
    return svc.artifacts.register(task_id, name, body, who)


@router.get("/tasks/{task_id}/artifacts/{name}", response_model=ArtifactOut)
def get_artifact(task_id: str, name: str, svc: Svc, who: Who) -> ArtifactOut:
    return svc.artifacts.get(task_id, name)


@router.delete("/tasks/{task_id}/artifacts/{name}", status_code=204)
def delete_artifact(task_id: str, name: str, svc: Svc, who: Who) -> Response:
    svc.artifacts.delete(task_id, name, who)
    return Response(status_code=204)


@router.head("/blobs/{hash}", response_class=Response,
             responses={200: {"description": "The blob is stored", "content": {}}})
def blob_exists(hash: Hash, svc: Svc, who: Who) -> Response:
    check_hash(hash)
    if not svc.store.exists(hash):
        return Response(status_code=404)
    return Response(status_code=200, headers={"content-length": str(svc.store.size(hash))})


@router.put("/blobs/{hash}", response_model=BlobOut)
async def upload_blob(hash: Hash, request: Request, who: Who) -> BlobOut:
    """Upload bytes whose BLAKE3 is ``hash``; refused (422) if the content does not match.
    Uploading a blob that is already stored is a cheap no-op; check first with HEAD."""
    svc: Services = request.app.state.services
    info = await svc.blobs.put_verified(request.stream(), hash)
    return BlobOut(hash=info.hash, size=info.size)


@router.get("/blobs/{hash}", response_class=Response, responses=BYTES)
def download_blob(hash: Hash, svc: Svc, who: Who) -> Response:
    check_hash(hash)
    local = svc.store.local_path(hash)
    headers = {"x-arno-hash": hash, "cache-control": "private, max-age=31536000, immutable"}
    if local is not None:
        return FileResponse(local, media_type="application/octet-stream", headers=headers)
    size = svc.store.size(hash)
    headers["content-length"] = str(size)
    return StreamingResponse(
        svc.store.iter_chunks(hash), media_type="application/octet-stream", headers=headers
    )
