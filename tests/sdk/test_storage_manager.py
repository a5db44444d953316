"""``StorageManager`` against real stores on 127.0.0.1: a stdlib http server that counts its
requests, S3 served by moto, local folders, and a live Arno server for ``arno://``."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import tarfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from blake3 import blake3

from arno.core.errors import InvalidInput, NotFound, ServerUnavailable
from arno.sdk import set_session
from arno.storage import StorageManager as SM


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A client home of the test's own (the cache lives under it); no server needed."""
    client_home = tmp_path / "client-home"
    monkeypatch.setenv("ARNO_HOME", str(client_home))
    set_session(None)
    yield client_home
    set_session(None)


class Site:
    def __init__(self, root: Path, url: str, gets: Counter[str]) -> None:
        self.root, self.url, self.gets = root, url, gets

    def put(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return f"{self.url}/{name}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A stdlib http server on 127.0.0.1 serving a folder; ``gets`` counts GETs per path.
    ``/truncated.bin`` promises 1 MB and sends 10 bytes before closing (a dropped link)."""
    root = tmp_path_factory.mktemp("site")
    gets: Counter[str] = Counter()

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:  # noqa: N802
            gets[self.path] += 1
            if self.path == "/truncated.bin":
                self.send_response(200)
                self.send_header("Content-Length", str(1 << 20))
                self.end_headers()
                self.wfile.write(b"0123456789")
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_address[1]}", gets)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; s3:// finds moto through the usual AWS environment variables."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    name = f"b-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing"
                 ).create_bucket(Bucket=name)
    return name


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_folder(root: Path) -> dict[str, bytes]:
    files = {"a.json": b'{"a": 1}', "b.txt": b"bee", "sub/c.json": b"[1, 2]",
             "sub/deep/d.bin": os.urandom(3000)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ---- http(s) ---------------------------------------------------------------------------------
def test_http_download_is_cached_and_reused_without_a_request(site, home):
    data = os.urandom(50_000)
    url = site.put("models/weights.bin", data)
    first = SM.get_local_copy(url)
    assert Path(first).read_bytes() == data and Path(first).name.endswith("weights.bin")
    assert Path(first).is_relative_to(home / "cache" / "storage")
    assert SM.get_local_copy(url) == first
    assert site.gets["/models/weights.bin"] == 1  # the second call asked nobody

    (site.root / "models/weights.bin").write_bytes(b"new")
    assert Path(SM.get_local_copy(url, force_download=True)).read_bytes() == b"new"
    assert site.gets["/models/weights.bin"] == 2
    assert SM.get_local_copy(url, cache_context="other") != first  # contexts are apart
    assert SM.exists_file(url) and not SM.exists_file(f"{site.url}/models/nothing.bin")
    assert SM.get_file_size_bytes(url) == 3


def test_http_errors_leave_nothing_in_the_cache(site, home):
    with pytest.raises(NotFound):
        SM.get_local_copy(f"{site.url}/missing.bin")
    with pytest.raises(ServerUnavailable):  # the link drops after 10 of 1,048,576 bytes
        SM.get_local_copy(f"{site.url}/truncated.bin")
    cache = home / "cache" / "storage"
    assert not cache.exists() or [p for p in cache.rglob("*") if p.is_file()] == []
    with pytest.raises(InvalidInput, match="no listing"):
        SM.list(f"{site.url}/models/")
    src = home.parent / "x.txt"
    src.write_text("x")
    with pytest.raises(InvalidInput, match="read-only"):
        SM.upload_file(str(src), f"{site.url}/x.txt")
    with pytest.raises(InvalidInput, match="unknown scheme"):
        SM.get_local_copy("nosuchscheme://host/file.txt")
    with pytest.raises(InvalidInput):
        SM.get_local_copy(f"{site.url}/a", cache_context="../escape")
    with pytest.raises(InvalidInput):
        SM.get_local_copy(f"{site.url}/a", name="../../etc/passwd")


def test_archives_are_extracted_once_and_a_zip_slip_is_refused(site, home, tmp_path):
    url = site.put("data/set.zip", zip_bytes({"train/x.csv": b"1,2\n", "README": b"hi"}))
    folder = Path(SM.get_local_copy(url))
    assert folder.is_dir() and tree(folder) == {"train/x.csv": b"1,2\n", "README": b"hi"}
    (folder / "train/x.csv").write_bytes(b"changed")  # proves the second call does not unpack
    assert SM.get_local_copy(url) == str(folder)
    assert (folder / "train/x.csv").read_bytes() == b"changed"
    assert site.gets["/data/set.zip"] == 1
    archive = Path(SM.get_local_copy(url, extract_archive=False))
    assert archive.is_file() and zipfile.is_zipfile(archive)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("model/config.json")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"{}"))
    tgz = Path(SM.get_local_copy(site.put("m.tar.gz", buf.getvalue())))
    assert tree(tgz) == {"model/config.json": b"{}"}
    # A URL with no file name: ``name`` says what it is
    assert tree(Path(SM.get_local_copy(site.put("blob", zip_bytes({"k": b"v"})),
                                       name="pack.zip"))) == {"k": b"v"}

    evil = site.put("evil.zip", zip_bytes({"ok.txt": b"fine", "../../outside.txt": b"pwned"}))
    with pytest.raises(InvalidInput, match="outside"):
        SM.get_local_copy(evil)
    assert not list(home.parent.rglob("outside.txt"))
    assert not list((home / "cache").rglob("ok.txt"))  # refused whole, not half-extracted
    local_evil = tmp_path / "evil.zip"  # a local archive is checked the same way
    local_evil.write_bytes(zip_bytes({"/etc/absolute.txt": b"x"}))
    with pytest.raises(InvalidInput):
        SM.get_local_copy(str(local_evil))
    assert SM.get_local_copy(str(local_evil), extract_archive=False) == str(local_evil)


def test_cache_file_limit_evicts_the_least_recently_used(site, home):
    urls = [site.put(f"lru/{i}.txt", str(i).encode()) for i in range(3)]
    assert SM.set_cache_file_limit(2, cache_context="small") == 2
    first = SM.get_local_copy(urls[0], cache_context="small")
    time.sleep(0.02)
    SM.get_local_copy(urls[1], cache_context="small")
    time.sleep(0.02)
    SM.get_local_copy(urls[0], cache_context="small")  # used again: now the newest
    time.sleep(0.02)
    SM.get_local_copy(urls[2], cache_context="small")
    kept = sorted(p.name.split(".", 1)[1] for p in (home / "cache/storage/small").iterdir())
    assert kept == ["0.txt", "2.txt"]
    assert Path(first).exists()
    SM.get_local_copy(urls[1], cache_context="small")
    assert site.gets["/lru/1.txt"] == 2  # evicted, so fetched again
    with pytest.raises(InvalidInput):
        SM.set_cache_file_limit(0)


# ---- local paths ---------------------------------------------------------------------------
def test_local_folders_round_trip_with_wildcards(home, tmp_path):
    files = make_folder(tmp_path / "src")
    assert SM.get_local_copy(str(tmp_path / "src/b.txt")) == str(tmp_path / "src/b.txt")
    assert SM.get_local_copy((tmp_path / "src").as_uri()) == str(tmp_path / "src")
    assert SM.upload_folder(str(tmp_path / "src"), str(tmp_path / "dst")) == str(tmp_path / "dst")
    assert tree(tmp_path / "dst") == files
    assert SM.list(str(tmp_path / "dst")) == sorted(files)
    assert SM.list((tmp_path / "dst").as_uri(), with_metadata=True)[0] == {
        "name": "a.json", "size": len(files["a.json"])}
    out = SM.download_folder(str(tmp_path / "dst"), str(tmp_path / "out"), match_wildcard="*.json")
    assert tree(Path(out)) == {k: v for k, v in files.items() if k.endswith(".json")}
    SM.upload_folder(str(tmp_path / "src"), str(tmp_path / "only-json"), match_wildcard="*.json")
    assert sorted(tree(tmp_path / "only-json")) == ["a.json", "sub/c.json"]
    with pytest.raises(NotFound):
        SM.upload_folder(str(tmp_path / "nothing"), str(tmp_path / "x"))
    with pytest.raises(NotFound):
        SM.get_local_copy(str(tmp_path / "missing.bin"))


# ---- s3 (moto) --------------------------------------------------------------------------------
def test_s3_files_folders_list_and_cache(bucket, home, tmp_path):
    src = tmp_path / "w.bin"
    src.write_bytes(os.urandom(10_000))
    url = f"s3://{bucket}/models/w.bin"
    assert SM.upload_file(str(src), url) == url
    assert SM.exists_file(url) and not SM.exists_file(f"s3://{bucket}/models/none.bin")
    assert SM.get_file_size_bytes(url) == 10_000
    meta = SM.get_metadata(url)
    assert (meta["name"], meta["size"]) == ("models/w.bin", 10_000) and meta["etag"]
    local = SM.get_local_copy(url)
    assert Path(local).read_bytes() == src.read_bytes()
    assert SM.get_local_copy(url) == local
    with pytest.raises(NotFound):
        SM.get_local_copy(f"s3://{bucket}/models/none.bin")

    files = make_folder(tmp_path / "src")
    SM.upload_folder(str(tmp_path / "src"), f"s3://{bucket}/data/")
    # names are relative to the bucket, as in ClearML
    assert SM.list(f"s3://{bucket}/data/") == sorted(f"data/{k}" for k in files)
    assert SM.list(f"s3://{bucket}/data/sub", return_full_path=True) == [
        f"s3://{bucket}/data/sub/c.json", f"s3://{bucket}/data/sub/deep/d.bin"]
    assert SM.list(f"s3://{bucket}/mod") == ["models/w.bin"]  # a prefix, not only a folder
    out = Path(SM.download_folder(f"s3://{bucket}/data", str(tmp_path / "out"),
                                  match_wildcard="*.json"))
    assert tree(out) == {f"data/{k}": v for k, v in files.items() if k.endswith(".json")}
    assert SM.download_file(f"s3://{bucket}/data/sub/c.json", str(tmp_path / "one")) == str(
        tmp_path / "one/data/sub/c.json")


def test_s3_settings_from_the_client_config_file(bucket, s3_endpoint, home, tmp_path,
                                                 monkeypatch):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var)
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[storage.s3]\nkey = "testing"\nsecret = "testing"\nregion = "us-east-1"\n'
        f'[storage.s3.buckets.{bucket}]\nendpoint_url = "{s3_endpoint}"\n')
    src = tmp_path / "c.txt"
    src.write_text("configured")
    SM.upload_file(str(src), f"s3://{bucket}/c.txt")
    assert Path(SM.get_local_copy(f"s3://{bucket}/c.txt")).read_text() == "configured"


# ---- the Arno file store -----------------------------------------------------------------------
def test_arno_store_files_folders_and_background_upload(sdk, tmp_path):
    src = tmp_path / "model.pt"
    src.write_bytes(os.urandom(20_000))
    digest = blake3(src.read_bytes()).hexdigest()
    url = SM.upload_file(str(src), "arno://checkpoints/best.pt")
    assert url == f"arno://blobs/{digest}/best.pt"
    local = SM.get_local_copy(url)
    assert Path(local).name.endswith("best.pt") and Path(local).read_bytes() == src.read_bytes()
    assert SM.get_metadata(url, read_hash=True) == {
        "name": "best.pt", "size": 20_000, "etag": digest, "hash": digest}
    assert SM.download_file(url, str(tmp_path / "dl")) == str(tmp_path / "dl/best.pt")
    with pytest.raises(NotFound):
        SM.get_local_copy(f"arno://blobs/{'0' * 64}/x.bin")
    with pytest.raises(InvalidInput):
        SM.get_local_copy("arno://blobs/not-a-hash/x.bin")
    with pytest.raises(InvalidInput, match="cannot list|whole"):
        SM.list("arno://blobs")

    later = tmp_path / "later.bin"
    later.write_bytes(os.urandom(5000))
    queued = SM.upload_file(str(later), wait_for_upload=False)
    assert queued == f"arno://blobs/{blake3(later.read_bytes()).hexdigest()}/later.bin"
    later.unlink()  # the file was set aside: deleting it loses nothing
    deadline = time.monotonic() + 20
    while not SM.exists_file(queued):
        assert time.monotonic() < deadline, "background upload never arrived"
        time.sleep(0.05)

    files = make_folder(tmp_path / "src")
    folder = SM.upload_folder(str(tmp_path / "src"))
    assert folder.startswith("arno://trees/")
    assert SM.list(folder) == sorted(files)
    assert SM.list(folder + "/sub", with_metadata=True, read_hash=True)[0] == {
        "name": "sub/c.json", "size": 6, "hash": blake3(files["sub/c.json"]).hexdigest()}
    out = SM.download_folder(folder, str(tmp_path / "out"), match_wildcard="*.json")
    assert tree(Path(out)) == {k: v for k, v in files.items() if k.endswith(".json")}
    assert Path(SM.get_local_copy(folder + "/sub/deep/d.bin")).read_bytes() == files[
        "sub/deep/d.bin"]
    with pytest.raises(NotFound):
        SM.get_local_copy(folder + "/no/such/file")


def test_a_forged_folder_manifest_cannot_write_outside(sdk, tmp_path):
    from arno.sdk import _context

    session = _context.session()
    data_hash, _ = session.upload_bytes(b"payload")
    manifest = {"format": "arno-tree/1",
                "files": {"../../escaped.txt": {"hash": data_hash, "size": 7}}}
    tree_hash, _ = session.upload_bytes(json.dumps(manifest).encode())
    with pytest.raises(InvalidInput, match="relative path"):
        SM.download_folder(f"arno://trees/{tree_hash}", str(tmp_path / "out"))
    assert not list(tmp_path.rglob("escaped.txt"))
