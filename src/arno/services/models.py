"""The model registry: create, read, change, weights, publish, archive, delete (a task's
input and output models and lineage come from ``model_links``).

Weights stored in Arno are files cut into pieces that live in dataset packs (uploaded the way
a dataset's are); the file list is a manifest blob of its own kind (so it never shares a hash
with a dataset's manifest), and the packs it needs become the model's pack references, which
keep them from dataset garbage collection exactly as a version's do. Setting weights holds
those packs as a manifest PUT does (see ``dataset_packs``). A published model never changes
again, tags and comment aside.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import zstandard
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from arno.blobstore import BlobStore, hash_bytes
from arno.core.dataset_schemas import ManifestFile
from arno.core.errors import Conflict, Immutable, InvalidInput
from arno.core.ids import new_id, utcnow
from arno.core.limits import MAX_JSON_BYTES, check_json
from arno.core.model_schemas import (
    MAX_META,
    STORED_PREFIX,
    ModelCreate,
    ModelOut,
    ModelPage,
    ModelUpdate,
    WeightsOut,
    WeightsSet,
)
from arno.db.engine import Database
from arno.db.models import ModelPackRefRow, ModelRow, ModelTagRow
from arno.services.dataset_manifests import (
    ManifestStore,
    encode_files,
    hold_packs,
    lock_blob,
    piece_homes,
)
from arno.services.dataset_packs import DatasetPackService
from arno.services.model_links import ModelLinks, get_model_row, model_outs, require_model_owner
from arno.services.principal import Principal
from arno.services.projects import ensure_project
from arno.services.tasks import get_task_row

if TYPE_CHECKING:
    from arno.services.model_query import ModelQuery

MAX_MISSING_SHOWN = 1000
_ZSTD_LEVEL = 1
_MUTABLE_WHEN_PUBLISHED = frozenset({"tags", "system_tags", "comment"})


def _set_tags(s: Session, row: ModelRow, tags: list[str]) -> None:
    row.tags = list(tags)
    s.execute(delete(ModelTagRow).where(ModelTagRow.model_id == row.id))
    if tags:
        s.execute(insert(ModelTagRow), [{"model_id": row.id, "tag": t} for t in tags])


def _check_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    if len(meta) > MAX_META:
        raise InvalidInput(f"metadata: more than {MAX_META} keys", details={"field": "metadata"})
    try:
        check_json(meta, max_bytes=MAX_JSON_BYTES, what="metadata")
    except ValueError as exc:
        raise InvalidInput(f"metadata: {exc}", details={"field": "metadata"}) from None
    return meta


def encode_weights(files: list[ManifestFile]) -> tuple[str, bytes]:
    """The weights manifest blob: ``(hash, zstd JSON)``, files sorted by path. Its document
    says it lists weights, so its hash is never that of a dataset manifest (whose release
    would then take it)."""
    body = encode_files(sorted(files, key=lambda f: f["path"]))
    doc = b'{"kind":"model_weights",' + body[1:]
    packed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(doc)
    return hash_bytes(packed), packed


class ModelService(ModelLinks):
    def __init__(self, db: Database, store: BlobStore, packs: DatasetPackService) -> None:
        super().__init__(db)
        self.store = store
        self.packs = packs
        self.manifests = ManifestStore(store)

    # ---- reading -----------------------------------------------------------------------------
    def list(self, q: ModelQuery) -> ModelPage:
        """One page of models (see ``model_query``)."""
        from arno.services.model_query import ModelQueryService

        return ModelQueryService(self.db).list(q)

    def get(self, model_id: str) -> ModelOut:
        with self.db.read() as s:
            return model_outs(s, [get_model_row(s, model_id)])[0]

    def weights(self, model_id: str) -> WeightsOut:
        with self.db.read() as s:
            row = get_model_row(s, model_id)
            manifest = row.weights_manifest
            out = WeightsOut(uri=row.uri, files=None, package=row.package,
                             size=row.weights_size, hash=row.weights_hash)
        if manifest:
            out.files = json.loads(self.manifests.raw(manifest))["files"]
        return out

    # ---- creating and changing -----------------------------------------------------------------
    def create(self, req: ModelCreate, who: Principal) -> ModelOut:
        released: builtins.list[str] = []
        with self.db.write() as s:
            task = None
            if req.task_id is not None:
                task = get_task_row(s, req.task_id)
                who.require_task_owner(task, f"task {task.id}")
            if req.project is not None:
                project_id = ensure_project(s, req.project, who.user_id).id
            elif task is not None:
                project_id = task.project_id
            else:
                raise InvalidInput("project: name the model's project (or give its task_id)",
                                   details={"field": "project"})
            if req.parent_id is not None:
                get_model_row(s, req.parent_id)
            now = utcnow()
            row = ModelRow(
                id=new_id(), project_id=project_id, name=req.name, framework=req.framework,
                task_id=task.id if task else None, owner_id=who.user_id,
                created_by_task_id=who.run_task_id, tags=[], system_tags=list(req.system_tags),
                comment=req.comment, labels=dict(req.labels), design=req.design,
                meta=_check_metadata(dict(req.metadata)), uri="", weights_size=0,
                weights_files=0, package=False, iteration=req.iteration,
                parent_id=req.parent_id, published=False, archived=False, created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            _set_tags(s, row, req.tags)
            if req.weights is not None:
                released = self._apply_weights(s, row, req.weights)
            s.flush()
            out = model_outs(s, [row])[0]
        self._collect(released)
        return out

    def update(self, model_id: str, req: ModelUpdate, who: Principal) -> ModelOut:
        with self.db.write() as s:
            row = get_model_row(s, model_id, lock=True)
            require_model_owner(who, row)
            given = {k for k, v in req if v is not None}
            if row.published and given - _MUTABLE_WHEN_PUBLISHED:
                raise Immutable(
                    f"model {row.id} is published: only tags, system_tags and comment may "
                    f"change, not {', '.join(sorted(given - _MUTABLE_WHEN_PUBLISHED))}",
                    details={"id": row.id})
            if req.name is not None:
                row.name = req.name
            if req.comment is not None:
                row.comment = req.comment
            if req.tags is not None:
                _set_tags(s, row, req.tags)
            if req.system_tags is not None:
                row.system_tags = list(req.system_tags)
            if req.framework is not None:
                row.framework = req.framework
            if req.labels is not None:
                row.labels = dict(req.labels)
            if req.design is not None:
                row.design = req.design
            if {"metadata", "metadata_set", "metadata_remove"} & given:
                meta = dict(req.metadata) if req.metadata is not None else dict(row.meta or {})
                meta.update(req.metadata_set or {})
                for key in req.metadata_remove or []:
                    meta.pop(key, None)
                row.meta = _check_metadata(meta)
            if req.project is not None:
                row.project_id = ensure_project(s, req.project, row.owner_id).id
            if req.iteration is not None:
                row.iteration = req.iteration
            if req.parent_id is not None:
                if req.parent_id == row.id:
                    raise InvalidInput("parent_id: a model cannot be its own parent",
                                       details={"field": "parent_id"})
                row.parent_id = get_model_row(s, req.parent_id).id
            row.updated_at = utcnow()
            s.flush()
            return model_outs(s, [row])[0]

    def set_weights(self, model_id: str, req: WeightsSet, who: Principal) -> ModelOut:
        with self.db.write() as s:
            row = get_model_row(s, model_id, lock=True)
            require_model_owner(who, row)
            if row.published:
                raise Immutable(f"model {row.id} is published: its weights never change",
                                details={"id": row.id})
            released = self._apply_weights(s, row, req)
            row.updated_at = utcnow()
            s.flush()
            out = model_outs(s, [row])[0]
        self._collect(released)
        return out

    def _apply_weights(self, s: Session, row: ModelRow, req: WeightsSet) -> builtins.list[str]:
        """Make ``req`` the model's weights; returns the packs it referred to before (for
        collection once the transaction is over)."""
        old_packs = list(s.scalars(select(ModelPackRefRow.pack_hash).where(
            ModelPackRefRow.model_id == row.id)))
        old_manifest = row.weights_manifest
        if req.files is None:
            s.execute(delete(ModelPackRefRow).where(ModelPackRefRow.model_id == row.id))
            row.uri = req.uri or ""
            row.weights_manifest = row.weights_hash = None
            row.weights_size = row.weights_files = 0
            row.package = bool(req.package)
        else:
            self._store_files(s, row, req.files, req.package)
        if req.iteration is not None:
            row.iteration = req.iteration
        s.flush()
        if old_manifest and old_manifest != row.weights_manifest:
            self._release_manifest(s, old_manifest)
        return old_packs

    def _store_files(self, s: Session, row: ModelRow, files: builtins.list[ManifestFile],
                     package: bool | None) -> None:
        """Every piece must be stored (422 naming the missing); the packs holding them are
        held and become the model's references."""
        hashes = list(dict.fromkeys(p for f in files for p in f["pieces"]))
        homes = dict(zip(hashes, piece_homes(s, hashes), strict=True))
        packs = {pack for pack, _ in homes.values() if pack is not None}
        held = hold_packs(s, packs)
        missing = [h for h, (pack, _) in homes.items() if pack not in held]
        if missing:
            owner = next(f["path"] for f in files if missing[0] in f["pieces"])
            raise InvalidInput(
                f"piece {missing[0]} of {owner} is not stored"
                f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
                "upload the weights' pieces first",
                details={"missing": missing[:MAX_MISSING_SHOWN]},
            )
        for f in files:
            pieces = f["pieces"]
            stored = sum(homes[p][1] or 0 for p in pieces)
            if stored != f["size"]:
                raise InvalidInput(f"{f['path']}: its pieces hold {stored} bytes, not {f['size']}",
                                   details={"path": f["path"]})
        h, packed = encode_weights(files)
        lock_blob(s, h)
        self.store.put_bytes(packed, expected_hash=h)
        s.execute(delete(ModelPackRefRow).where(ModelPackRefRow.model_id == row.id))
        if packs:
            s.execute(insert(ModelPackRefRow),
                      [{"model_id": row.id, "pack_hash": p} for p in sorted(packs)])
        is_package = bool(package) if package is not None else len(files) > 1
        row.uri = STORED_PREFIX + row.id
        row.weights_manifest = h
        row.weights_size = sum(f["size"] for f in files)
        row.weights_files = len(files)
        row.weights_hash = h if is_package else files[0]["hash"]
        row.package = is_package

    def _release_manifest(self, s: Session, h: str) -> None:
        """Delete weights manifest ``h`` unless another model still names it (call last in
        the transaction: the blob goes at once)."""
        lock_blob(s, h)
        s.flush()
        if s.scalar(select(ModelRow.id).where(ModelRow.weights_manifest == h).limit(1)) is None:
            self.store.delete(h)

    def _collect(self, packs: Iterable[str]) -> None:
        """Collect those of ``packs`` nothing refers to any more (past the grace period)."""
        wanted = list(packs)
        if wanted:
            self.packs.collect(wanted)

    def publish(self, model_id: str, who: Principal) -> ModelOut:
        with self.db.write() as s:
            row = get_model_row(s, model_id, lock=True)
            require_model_owner(who, row)
            if not row.published:
                if not row.uri:
                    raise Conflict(f"model {row.id} has no weights: set them before publishing",
                                   details={"id": row.id})
                row.published = True
                row.published_at = row.updated_at = utcnow()
                s.flush()
            return model_outs(s, [row])[0]

    def set_archived(self, model_id: str, archived: bool, who: Principal) -> ModelOut:
        with self.db.write() as s:
            row = get_model_row(s, model_id, lock=True)
            require_model_owner(who, row)
            row.archived = archived
            row.updated_at = utcnow()
            s.flush()
            return model_outs(s, [row])[0]

    def delete(self, model_id: str, who: Principal, *, force: bool = False) -> None:
        """Delete the model (its uses by tasks go with it); the packs only it needed are
        collected once past the grace period."""
        with self.db.write() as s:
            row = get_model_row(s, model_id, lock=True)
            require_model_owner(who, row)
            if row.published and not force:
                raise Conflict(f"model {row.id} is published; pass force to delete it",
                               details={"id": row.id})
            packs = list(s.scalars(select(ModelPackRefRow.pack_hash).where(
                ModelPackRefRow.model_id == row.id)))
            manifest = row.weights_manifest
            s.execute(delete(ModelRow).where(ModelRow.id == row.id))
            if manifest:
                self._release_manifest(s, manifest)
        self._collect(packs)
