"""Dataset pages: every dataset, one dataset's versions with their lineage, one version's files
(folders, status against its parents, previews, downloads) and its logger's plots."""

from __future__ import annotations

from itertools import chain
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from arno.core.errors import IntegrityError, InvalidInput
from arno.server.deps import current_principal, get_services
from arno.server.ui import dataset_views as views
from arno.server.ui.render import render
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]

LIST_LIMIT = 500
PAGE_SIZE = 200
TABS = [("files", "Files"), ("plots", "Plots & tables")]
STATUS_FILTERS = [("all", "All"), ("added", "Added"), ("modified", "Modified"),
                  ("removed", "Removed")]


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, svc: Svc, who: Who, q: str = "", project: str = "",
                  tag: str = "") -> Response:
    items = svc.dataset_browser.summaries(name=q, project=project, tag=tag, limit=LIST_LIMIT)
    projects, tags = svc.dataset_browser.filter_choices()
    return render(request, "datasets.html", section="datasets", items=items, q=q,
                  project=project, tag=tag, projects=projects, tags=tags, limit=LIST_LIMIT)


@router.get("/datasets/versions/{vid}", response_class=HTMLResponse)
def version_page(request: Request, vid: str, svc: Svc, who: Who, tab: str = "files",
                 prefix: str = "", status: str = "all", q: str = "", page: int = 1
                 ) -> Response:
    version, parents, children = svc.dataset_browser.related(vid)
    tabs = dict(TABS)
    tab = tab if tab in tabs else "files"
    ctx: dict[str, Any] = {
        "v": version, "parents": parents, "children": children, "tab": tab, "tabs": TABS,
        "section": "datasets", "task": version,
        "artifacts": [a.name for a in svc.artifacts.list(vid)],
    }
    if tab == "files":
        page = max(1, page)
        listing = svc.dataset_browser.listing(
            vid, prefix=prefix, status=status, q=q, offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE)
        crumbs = []
        parts = listing.prefix.rstrip("/").split("/") if listing.prefix else []
        for i, part in enumerate(parts):
            crumbs.append((part, "/".join(parts[: i + 1]) + "/"))
        s = version.stats
        counts = {"all": s.file_count, "added": s.added_files, "modified": s.modified_files,
                  "removed": s.removed_files}
        ctx.update(listing=listing, crumbs=crumbs, page=page, page_size=PAGE_SIZE,
                   pages=max(1, -(-listing.total // PAGE_SIZE)), filters=STATUS_FILTERS,
                   counts=counts)
    return render(request, "datasets_version.html", **ctx)


@router.get("/datasets/versions/{vid}/preview", response_class=HTMLResponse)
def preview_page(request: Request, vid: str, path: str, svc: Svc, who: Who) -> Response:
    """One file: its details, a download link and a preview (a table of the first rows,
    the start of a text, or the image)."""
    version = svc.datasets.get(vid)
    f = svc.dataset_browser.file(vid, path)
    kind = views.kind_of(path)
    preview, error = None, ""
    if f.get("uri"):
        preview = views.Preview("external")
    elif f["size"] == 0:
        preview = views.Preview("empty")
    elif kind == "image":
        preview = views.Preview("image")
    elif kind == "parquet" and f["size"] > views.PARQUET_BYTES:
        preview = views.Preview("unavailable", note="too large to preview here")
    else:
        try:
            head = svc.dataset_browser.read_file(vid, path, views.bytes_wanted(kind))
        except IntegrityError as exc:
            error = exc.message
        else:
            if kind == "table":
                preview = views.table_preview(head.data, head.complete,
                                              views.TABLES[views.extension(path)])
            elif kind == "parquet":
                preview = views.parquet_preview(head.data)
            elif kind == "text":
                preview = views.text_preview(head.data, head.complete, path)
            else:
                preview = views.sniff_preview(head.data, head.complete, path)
    folder = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
    return render(request, "datasets_preview.html", status_code=500 if error else 200,
                  section="datasets", v=version, f=f, file_path=path, folder=folder,
                  name=path.rsplit("/", 1)[-1], preview=preview, error=error)


@router.get("/datasets/versions/{vid}/file")
def file_bytes(vid: str, path: str, svc: Svc, who: Who, inline: str = "") -> Response:
    """The file's bytes, each piece checked as it is read: a download, or an image shown in
    the page (``inline``). Damage found before the first byte is an error page; found later,
    the download stops short (the browser reports it as failed)."""
    f, pieces = svc.dataset_browser.open_file(vid, path)
    name = path.rsplit("/", 1)[-1]
    image = views.IMAGE_TYPES.get(views.extension(path))
    if inline and image is None:
        raise InvalidInput(f"{name} is not an image: it can only be downloaded")
    media = image if inline and image else "application/octet-stream"
    how = "inline" if inline else "attachment"
    headers = {
        "content-disposition": f"{how}; filename*=UTF-8''{quote(name)}",
        "content-length": str(f["size"]),
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox",
        "cache-control": "private, max-age=3600",
    }
    first = next(pieces, b"")  # damage in a one-piece file is an error page, not a cut download
    return StreamingResponse(chain([first], pieces), media_type=media, headers=headers)


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: str, svc: Svc, who: Who) -> Response:
    ds = svc.dataset_browser.dataset(dataset_id)
    known = {**ds.outside, **{v.id: v for v in ds.versions}}
    shown = ds.versions[:views.MAX_NODES]
    ids = {v.id for v in shown}
    beyond = {p: known[p] for v in shown for p in v.parents if p not in ids and p in known}
    graph = views.lineage(shown, beyond)
    return render(request, "datasets_dataset.html", section="datasets", ds=ds, graph=graph,
                  known=known, node_w=views.NODE_W, node_h=views.NODE_H,
                  graph_cut=len(ds.versions) > len(shown), max_nodes=views.MAX_NODES)
