"""Datasets: versioning a folder of 10k small files and 5 large ones, ours against DVC.

Data: 10,000 files x 10 KiB in a seeded tree of folders plus 5 files x 100 MiB (~625 MiB),
written once per run from ``os.urandom`` (so compression flatters nobody) into ``data/`` of a
temporary git repository; both sides version that same folder. ``--small``: 1,000 x 10 KiB
+ 5 x 10 MiB.

1. create + upload v1. Ours: ``Dataset.create``, ``add_files(data)``, ``upload()``,
   ``finalize()`` in a client script (timed from ``create`` to the return of ``finalize``; the
   interpreter's start and imports are printed apart). Peer: ``dvc add data`` + ``dvc push``.
2. a child version after rewriting 1% of the small files. Ours: ``Dataset.create`` with the
   previous version as parent, ``sync_folder(data)``, ``upload()``, ``finalize()``. Peer: ``dvc
   add data`` + ``dvc push`` (its state database skips unchanged files).
3. a fresh full copy of that version. Ours: ``Dataset.get(dataset_id=...).get_local_copy()``
   from a new ``ARNO_HOME`` (empty cache). Peer: ``git clone`` of the repository (not timed)
   then ``dvc pull`` into its empty cache. Both copies are checked file by file.
4. 1 MiB overwritten in the middle of one large file, then a new version as in 2: how much the
   stored bytes grow (ours: the server's blob store; peer: its remote).
5. stored bytes after v1 over the data's bytes (all unique).

``--s3``: both store on one moto S3 server (ours: ``ARNO_STORAGE_URL=s3://bench/arno``; peer: an
S3 remote ``s3://bench/dvc`` with ``endpointurl``). ``--postgres``: our server on a fresh
PostgreSQL database (dropped after); DVC has no database and runs as in the local variant.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import _dvc  # noqa: E402
from _datasets_env import (  # noqa: E402
    FULL,
    MIB,
    S3_KEYS,
    SMALL,
    Sizes,
    Storage,
    arno_server,
    check_copy,
    make_data,
    moto_s3,
    overwrite_middle,
    postgres_database,
    rewrite_share,
    tree_digest,
)

SEED = 5

OURS_VERSION = """
import json, sys, time
args = json.loads(sys.argv[1])
t_start = time.perf_counter()
from arno import Dataset
t0 = time.perf_counter()
ds = Dataset.create(dataset_name=args["name"], dataset_project=args["project"],
                    parent_datasets=args["parents"] or None)
if args["parents"]:
    ds.sync_folder(args["data"])
else:
    ds.add_files(args["data"])
ds.upload()
ds.finalize()
t1 = time.perf_counter()
json.dump({"id": ds.id, "seconds": t1 - t0, "startup": t0 - t_start}, open(sys.argv[2], "w"))
"""

OURS_GET = """
import json, sys, time
args = json.loads(sys.argv[1])
t_start = time.perf_counter()
from arno import Dataset
t0 = time.perf_counter()
path = Dataset.get(dataset_id=args["id"]).get_local_copy()
t1 = time.perf_counter()
json.dump({"path": str(path), "seconds": t1 - t0, "startup": t0 - t_start},
          open(sys.argv[2], "w"))
"""


# ---- the two sides ---------------------------------------------------------------------------


class Ours:
    def __init__(self, srv: c.ArnoServer, tmp: Path, storage: Storage) -> None:
        self.srv, self.tmp, self.storage = srv, tmp, storage
        self.env = srv.client_env(tmp / "client-home")

    def version(self, data: Path, parent: str | None) -> dict[str, Any]:
        args = {"name": "bench", "project": "bench/datasets", "data": str(data),
                "parents": [parent] if parent else []}
        t0 = time.perf_counter()
        r = c.run_client(sys.executable, OURS_VERSION, self.env, args, cwd=self.tmp)
        r["wall"] = time.perf_counter() - t0
        return r

    def fresh_copy(self, dataset_id: str) -> dict[str, Any]:
        env = self.srv.client_env(self.tmp / f"client-fresh-{uuid.uuid4().hex[:6]}")
        t0 = time.perf_counter()
        r = c.run_client(sys.executable, OURS_GET, env, {"id": dataset_id}, cwd=self.tmp)
        r["wall"] = time.perf_counter() - t0
        return r


def variant_setup(tmp: Path, endpoint: str | None, db_url: str | None
                  ) -> tuple[dict[str, str], Storage, Storage, str]:
    """Our server's extra settings, our storage, the peer's storage and its remote URL."""
    extra: dict[str, str] = {}
    if db_url:
        extra["ARNO_DATABASE_URL"] = db_url
    if endpoint is None:
        return extra, Storage(str(tmp / "arno-home" / "files")), Storage(str(tmp / "dvc-remote")), \
            str(tmp / "dvc-remote")
    import s3fs

    options = {"endpoint_url": endpoint, **S3_KEYS, "client_kwargs": {"region_name": "us-east-1"}}
    extra.update(ARNO_STORAGE_URL="s3://bench/arno", ARNO_STORAGE_OPTIONS=json.dumps(options))
    fs = s3fs.S3FileSystem(use_listings_cache=False, **options)
    return extra, Storage("bench/arno", fs), Storage("bench/dvc", fs), "s3://bench/dvc"


def mib(n: int) -> float:
    return n / MIB


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--small", dest="quick", action="store_true", help="same as --quick")
    p.add_argument("--s3", action="store_true", help="both sides store on a moto S3 server")
    p.add_argument("--postgres", action="store_true", help="our server on PostgreSQL")
    p.add_argument("--no-ours", action="store_true", help="DVC only (prints ours n/a)")
    args = p.parse_args()
    sizes = SMALL if args.quick else FULL
    prefix = "dataset_" + "".join(v for v, on in (("s3_", args.s3), ("pg_", args.postgres)) if on)
    exe, why = (None, "--no-peer") if args.no_peer else _dvc.dvc_executable(s3=args.s3)
    c.machine_note()
    c.info(f"data: {sizes.describe()}; store: {'S3 (moto)' if args.s3 else 'local disk'}; "
           f"our database: {'PostgreSQL' if args.postgres else 'SQLite'}")
    c.info(f"peer: {why}" if exe is None else f"peer: {why} ({exe})")
    rng = random.Random(SEED)
    with c.workdir("datasets") as tmp:
        repo = tmp / "repo"
        small, big = make_data(repo / "data", sizes, rng)
        s3_ctx = moto_s3(tmp) if args.s3 else nullcontext(None)
        pg_ctx = postgres_database() if args.postgres and not args.no_ours else nullcontext(None)
        with s3_ctx as endpoint, pg_ctx as db_url:
            extra, our_store, peer_store, remote_url = variant_setup(tmp, endpoint, db_url)
            dvc = None
            if exe:
                creds = ({"AWS_ACCESS_KEY_ID": S3_KEYS["key"],
                          "AWS_SECRET_ACCESS_KEY": S3_KEYS["secret"],
                          "AWS_DEFAULT_REGION": "us-east-1"} if endpoint else {})
                dvc = _dvc.DvcRepo(exe, repo, remote_url, tmp / "dvc-site-cache",
                                   endpoint_url=endpoint, s3_credentials=creds)
            srv_ctx = nullcontext(None) if args.no_ours else arno_server(tmp, extra)
            with srv_ctx as srv:
                ours = Ours(srv, tmp, our_store) if srv else None
                try:
                    Run(prefix, sizes, rng, ours, dvc, peer_store, repo / "data").all(small, big)
                finally:
                    if dvc:
                        dvc.cleanup()


@dataclass
class Run:
    prefix: str
    sizes: Sizes
    rng: random.Random
    ours: Ours | None
    dvc: _dvc.DvcRepo | None
    peer_store: Storage
    data: Path

    def report(self, name: str, ours: float | None, peer: float | None) -> None:
        c.report(self.prefix + name, ours, peer, higher_is_better=False)

    def our_version(self, parent: str | None) -> dict[str, Any] | None:
        return self.ours.version(self.data, parent) if self.ours else None

    def peer_version(self, message: str) -> float | None:
        return self.dvc.new_version(message) if self.dvc else None

    def all(self, small: list[Path], big: list[Path]) -> None:
        ours, dvc = self.ours, self.dvc
        unique = self.sizes.total

        # 1. v1
        v1 = self.our_version(None)
        ours_v1_stored = ours.storage.size() if ours else None
        if dvc:
            dvc.init()
        peer_v1 = self.peer_version("v1")
        peer_v1_stored = self.peer_store.size() if dvc else None
        self.report("create_upload_v1_s", _get(v1, "seconds"), peer_v1)
        self.details("v1", v1, "target <= 4 s")

        # 2. 1% of the small files rewritten
        changed = rewrite_share(small, self.rng, 0.01)
        v2 = self.our_version(_get(v1, "id"))
        peer_v2 = self.peer_version("v2")
        self.report("child_1pct_changed_s", _get(v2, "seconds"), peer_v2)
        self.details(f"v2 ({changed} small files rewritten)", v2, "target <= 1 s")

        # 3. fresh full copy of v2
        expected = tree_digest(self.data)
        got = None
        if ours and v2:
            got = ours.fresh_copy(v2["id"])
            check_copy("ours", Path(got["path"]), expected)
        peer_get = None
        if dvc:
            clone = self.data.parent.parent / "dvc-clone"
            peer_get = dvc.fresh_pull(clone)
            check_copy("peer", clone / "data", expected)
            shutil.rmtree(clone, ignore_errors=True)
        self.report("fresh_get_local_copy_s", _get(got, "seconds"), peer_get)
        c.info(f"copies checked file by file ({len(expected):,} files); ours "
               f"{_fmt(_get(got, 'wall'))} with start and imports"
               + ("; peer: dvc pull only (the git clone before it not counted)" if dvc else "")
               + "; target <= 3 s")

        # 4. 1 MiB overwritten inside one large file
        ours_before = ours.storage.objects() if ours else {}
        peer_before = self.peer_store.objects() if dvc else {}
        overwrite_middle(self.rng.choice(big), MIB)
        v3 = self.our_version(_get(v2, "id"))
        ours_new = _new_objects(ours.storage, ours_before) if ours else None
        self.peer_version("v3")
        peer_new = _new_objects(self.peer_store, peer_before) if dvc else None
        self.report("1mib_edit_stored_growth_mib", _get_mib(ours_new), _get_mib(peer_new))
        self.details("v3 (1 MiB overwritten in one large file)", v3, "target <= 5 MiB growth")
        c.info(f"new objects: ours {_sizes(ours_new)}; peer {_sizes(peer_new)}")

        # 5. storage of v1 against the data's bytes
        self.report("v1_stored_per_unique_byte",
                    None if ours_v1_stored is None else ours_v1_stored / unique,
                    None if peer_v1_stored is None else peer_v1_stored / unique)
        c.info(f"v1: {unique:,} bytes of data; stored: ours {_ratio(ours_v1_stored, unique)}, "
               f"peer {_ratio(peer_v1_stored, unique)}; target <= 1.01")

    def details(self, what: str, ours: dict[str, Any] | None, target: str) -> None:
        parts = [f"{what}: ours {_fmt(_get(ours, 'seconds'))} in the script, "
                 f"{_fmt(_get(ours, 'wall'))} with the interpreter's start and imports"]
        if self.dvc:
            t = self.dvc.timings
            parts.append(f"peer dvc add {t['add']:.2f} s + dvc push {t['push']:.2f} s")
        c.info("; ".join(parts + [target]))


def _get(result: dict[str, Any] | None, key: str) -> Any:
    return None if result is None else result[key]


def _new_objects(storage: Storage, before: dict[str, int]) -> list[int]:
    after = storage.objects()
    if set(before) - set(after):
        c.info(f"{len(set(before) - set(after))} objects were deleted from {storage.path}")
    return sorted((size for key, size in after.items() if before.get(key) != size),
                  reverse=True)


def _get_mib(sizes: list[int] | None) -> float | None:
    return None if sizes is None else mib(sum(sizes))


def _sizes(sizes: list[int] | None) -> str:
    if sizes is None:
        return "n/a"
    shown = ", ".join(f"{mib(n):.2f}" for n in sizes[:6])
    return f"{len(sizes)} ({shown}{', ...' if len(sizes) > 6 else ''} MiB)"


def _fmt(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f} s"


def _ratio(n: int | None, unique: int) -> str:
    return "n/a" if n is None else f"{n:,} bytes ({n / unique:.4f})"


if __name__ == "__main__":
    main()
