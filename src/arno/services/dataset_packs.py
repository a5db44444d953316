"""Dataset packs: accepting one (every member verified), finding pieces, reading packs, and
garbage collection.

Garbage is a pack no version and no model refers to that is older than the grace period. It
is deleted, row and blob, inside one write transaction that holds the pack's row; a manifest
PUT holds the rows of the packs it names (see ``hold_packs``), so each sees the other's work
whole: either the pack is gone before the manifest names it (and the client uploads it again)
or the manifest's reference protects it. Setting a model's weights holds its packs the same
way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import Table, and_, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from arno.blobstore import BlobStore, is_hash
from arno.core.dataset_schemas import GcResult, PackOut
from arno.core.errors import InvalidInput, NotFound, ServerUnavailable
from arno.core.ids import utcnow
from arno.core.packs import Member, MemberError, check_members, read_index
from arno.db.engine import Database
from arno.db.models import ArtifactRow, DatasetPackRefRow, DatasetPackRow, ModelPackRefRow
from arno.services.dataset_manifests import Piece, find_pieces, insert_pieces, stored_pieces
from arno.services.principal import Principal

log = logging.getLogger("arno.services.datasets")
_BATCH = 500


def verify_pack(h: str, path: Path, size: int) -> list[Member]:
    """The members of the pack file at ``path``, each checked against its hash (422 naming
    the first piece that does not match)."""
    with path.open("rb") as f:
        members = read_index(f, size)
        if not members:
            raise InvalidInput(f"pack {h} holds no pieces")
        for m in members:
            if not is_hash(m.hash):
                raise InvalidInput(f"pack {h}: {m.hash!r} is not a piece hash")
        try:
            check_members(f, members)
        except MemberError as exc:
            bad = members[exc.index].hash
            raise InvalidInput(
                f"pack {h}: piece {bad} does not match its content ({exc.message})",
                details={"piece": bad},
            ) from None
    return members


def _upsert_pack(s: Session, h: str, size: int, count: int) -> None:
    """Record the pack, or make a recorded one young again (it was just sent: a client is
    about to name it)."""
    values = {"hash": h, "size": size, "piece_count": count, "created_at": utcnow()}
    table = cast(Table, DatasetPackRow.__table__)
    if s.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(table).values(values)
        s.execute(pg.on_conflict_do_update(index_elements=["hash"],
                                           set_={"created_at": pg.excluded.created_at}))
    else:
        lite = sqlite.insert(table).values(values)
        s.execute(lite.on_conflict_do_update(index_elements=["hash"],
                                             set_={"created_at": lite.excluded.created_at}))


class DatasetPackService:
    def __init__(self, db: Database, store: BlobStore, *, grace_seconds: float) -> None:
        self.db = db
        self.store = store
        self.grace_seconds = grace_seconds

    # ---- packs in -----------------------------------------------------------------------
    def ingest(self, h: str, path: Path, size: int) -> PackOut:
        """Accept the pack at ``path`` (its bytes already hash to ``h``): verify every member,
        store it, record where each new piece lives. Sending a pack again is harmless."""
        members = verify_pack(h, path, size)
        self.store.put_hashed_file(path, h, size)  # a no-op when it is stored already
        first: dict[str, Member] = {}
        for m in members:
            first.setdefault(m.hash, m)
        with self.db.write() as s:
            _upsert_pack(s, h, size, len(members))
            # Collection may have taken an older copy of this pack between the put above and
            # the row we now hold: then its blob is gone, and the client sends it again.
            if not self.store.exists(h):
                raise ServerUnavailable(f"pack {h} was collected while it was stored; "
                                        "send it again")
            known = find_pieces(s, list(first))
            new = [(m.hash, m.size, h, m.offset, m.length)
                   for m in first.values() if m.hash not in known]
            insert_pieces(s, new)
        return PackOut(hash=h, size=size, pieces=len(members), new_pieces=len(new))

    # ---- pieces -------------------------------------------------------------------------
    def missing(self, hashes: list[str]) -> list[str]:
        """Those of ``hashes`` (in their order, once each) that are not stored."""
        wanted = list(dict.fromkeys(hashes))
        with self.db.read() as s:
            found = stored_pieces(s, wanted)
        return [h for h in wanted if h not in found]

    def locate(self, hashes: list[str]) -> dict[str, Piece]:
        wanted = list(dict.fromkeys(hashes))
        with self.db.read() as s:
            found = find_pieces(s, wanted)
        for h in wanted:
            if h not in found:
                raise NotFound(f"piece {h} is not stored", details={"hash": h})
        return {h: found[h] for h in wanted}

    # ---- packs out ----------------------------------------------------------------------
    def size(self, h: str) -> int:
        with self.db.read() as s:
            row = s.get(DatasetPackRow, h) if is_hash(h) else None
            if row is None:
                raise NotFound(f"no dataset pack {h}")
            return row.size

    # ---- garbage --------------------------------------------------------------------------
    def collect(self, scope: Iterable[str] | None = None) -> GcResult:
        """Delete the packs (rows, pieces, blobs) no version or model refers to, older than the
        grace period; only those in ``scope`` when given."""
        if scope is not None:
            wanted = sorted(set(scope))
            results = [self._collect(wanted[i:i + _BATCH]) for i in range(0, len(wanted), _BATCH)]
            return GcResult(packs_deleted=sum(r.packs_deleted for r in results),
                            bytes_freed=sum(r.bytes_freed for r in results))
        return self._collect(None)

    def _collect(self, wanted: list[str] | None) -> GcResult:
        cutoff = utcnow() - timedelta(seconds=self.grace_seconds)
        unreferenced = and_(
            ~exists().where(DatasetPackRefRow.pack_hash == DatasetPackRow.hash),
            ~exists().where(ModelPackRefRow.pack_hash == DatasetPackRow.hash),
        )
        named_by_artifact = exists().where(ArtifactRow.hash == DatasetPackRow.hash)
        deleted = freed = 0
        with self.db.write() as s:
            q = select(DatasetPackRow.hash).where(
                DatasetPackRow.created_at < cutoff, unreferenced, ~named_by_artifact
            ).order_by(DatasetPackRow.hash)
            if wanted is not None:
                q = q.where(DatasetPackRow.hash.in_(wanted))
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)  # held by a manifest PUT: in use
            candidates = list(s.scalars(q))
            for i in range(0, len(candidates), _BATCH):
                # held now: look again with what has been committed since (PostgreSQL)
                rows = s.execute(
                    select(DatasetPackRow.hash, DatasetPackRow.size)
                    .where(DatasetPackRow.hash.in_(candidates[i:i + _BATCH]), unreferenced)
                ).all()
                s.execute(delete(DatasetPackRow).where(
                    DatasetPackRow.hash.in_([h for h, _ in rows])))
                for h, size in rows:
                    self.store.delete(h)
                    deleted += 1
                    freed += size
        if deleted:
            log.info("dataset gc: %d packs deleted, %d bytes freed", deleted, freed)
        return GcResult(packs_deleted=deleted, bytes_freed=freed)

    def collect_all(self, who: Principal) -> GcResult:
        who.require_admin()
        return self.collect()
