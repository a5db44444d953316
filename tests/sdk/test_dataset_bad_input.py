"""Bad input never half-works: a file that cannot be added names itself and nothing is added;
no manifest path can write outside the target folder; a piece damaged in the server's storage
is reported and its file is never written."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest
from tests.dataset_trees import write_tree

from arno import Dataset
from arno.client._dataset_download import materialize
from arno.core.errors import IntegrityError, InvalidInput
from arno.sdk import _context, set_session


def project() -> str:
    return f"bad/{uuid.uuid4().hex[:8]}"



def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() or p.is_symlink())


@pytest.fixture
def draft(sdk, tmp_path):
    ds = Dataset.create(dataset_name="inputs", dataset_project=project())
    ds.add_files(write_tree(tmp_path / "first", {"first.txt": b"first"}))
    return ds


def test_a_missing_path_is_named_and_nothing_is_added(draft, tmp_path):
    with pytest.raises(InvalidInput, match="no such file or folder: .*nowhere"):
        draft.add_files(tmp_path / "nowhere")
    good = write_tree(tmp_path / "good", {"ok.txt": b"ok"})
    with pytest.raises(InvalidInput, match="nowhere"):
        draft.add_files([good, tmp_path / "nowhere"])
    assert draft.list_files() == ["first.txt"]


def test_a_broken_symlink_is_named_and_nothing_is_added(draft, tmp_path):
    src = write_tree(tmp_path / "src", {"a.txt": b"a", "z.txt": b"z"})
    (src / "m-link").symlink_to(tmp_path / "gone")
    with pytest.raises(InvalidInput, match=r"m-link is a broken symbolic link"):
        draft.add_files(src)
    assert draft.list_files() == ["first.txt"]
    with pytest.raises(InvalidInput, match="broken symbolic link"):
        draft.add_files(src / "m-link")
    (src / "m-link").unlink()
    (src / "good-link").symlink_to(src / "a.txt")  # a working link adds its target's bytes
    assert draft.add_files(src) == 3


def test_an_unreadable_file_is_named_and_nothing_is_added(draft, monkeypatch):
    # a world-readable folder, so that dropping root's rights below still reaches the others
    root = Path(tempfile.mkdtemp(prefix="arno-unreadable-"))
    root.chmod(0o755)
    try:
        src = write_tree(root / "src", {"a.txt": b"a", "secret.txt": b"s", "z.txt": b"z"})
        for p in (src, *src.iterdir()):
            p.chmod(0o755 if p.is_dir() else 0o644)
        (src / "secret.txt").chmod(0o000)
        home = root / "home"  # the ordinary user's own ARNO_HOME
        home.mkdir()
        if os.geteuid() == 0:
            os.chown(home, 65534, 65534)
        monkeypatch.setenv("ARNO_HOME", str(home))
        set_session(None)
        draft._state()  # the draft's files are read from the server before rights drop
        with pytest.raises(InvalidInput, match=r"cannot read .*secret\.txt: permission denied"):
            if os.geteuid() == 0:  # root reads anything: act as an ordinary user here
                os.seteuid(65534)
                try:
                    draft.add_files(src)
                finally:
                    os.seteuid(0)
            else:
                draft.add_files(src)
        assert draft.list_files() == ["first.txt"]
    finally:
        (root / "src" / "secret.txt").chmod(0o644)
        import shutil

        shutil.rmtree(root)


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd-copy", "a/../../escape.txt",
                                  "a//b", "./a", "a\\..\\b", "nul\x00byte", "",
                                  "C:/escape.txt", "c:escape.txt", "a/D:/b", "x" * 5000])
def test_manifest_paths_that_would_escape_are_refused_before_anything_is_written(
        tmp_path, path):
    target = tmp_path / "target"
    entries = [{"path": "fine.txt", "size": 0, "hash": "", "pieces": []},
               {"path": path, "size": 0, "hash": "", "pieces": []}]
    with pytest.raises(InvalidInput):
        materialize(None, entries, target)
    assert files_under(tmp_path) == []


def test_a_symlink_in_the_target_cannot_lead_writes_outside(sdk, tmp_path):
    ds = Dataset.create(dataset_name="links", dataset_project=project())
    ds.add_files(write_tree(tmp_path / "data", {"sub/inside.txt": b"x", "top.txt": b"t"}))
    ds.finalize(auto_upload=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "sub").symlink_to(outside)
    with pytest.raises(InvalidInput, match="symbolic link"):
        ds.get_mutable_local_copy(target, overwrite=True)
    assert list(outside.iterdir()) == []
    # a link that stays inside the target is followed
    (target / "sub").unlink()
    (target / "real").mkdir()
    (target / "sub").symlink_to(target / "real")
    ds.get_mutable_local_copy(target, overwrite=True)
    assert (target / "real" / "inside.txt").read_bytes() == b"x"


def test_a_piece_corrupted_on_the_server_is_detected_and_not_written(sdk, tmp_path):
    payload = os.urandom(200_000)
    ds = Dataset.create(dataset_name="corrupt", dataset_project=project())
    ds.add_files(write_tree(tmp_path / "data", {"good.txt": b"fine", "victim.bin": payload}))
    ds.finalize(auto_upload=True)
    victim = ds.file_entries_dict["victim.bin"].pieces[0]
    session = _context.session()
    pack, offset, length, _size = session.post("datasets/pieces/locate",
                                               {"hashes": [victim]})["pieces"][victim]
    stored = sdk.services.store.local_path(pack)
    stored.chmod(0o644)
    raw = bytearray(stored.read_bytes())
    raw[offset + length // 2] ^= 0xFF  # one flipped byte inside the member
    stored.write_bytes(bytes(raw))

    with pytest.raises(IntegrityError, match=victim):
        ds.get_local_copy()
    cache = _context.home() / "datasets"
    assert not (cache / "versions" / ds.id).exists()
    assert [p for p in (cache / "staging").rglob("*") if p.is_file()] == []

    target = tmp_path / "copy"
    with pytest.raises(IntegrityError, match="victim.bin"):
        ds.get_mutable_local_copy(target)
    assert "victim.bin" not in files_under(target)
    assert not [p for p in files_under(target) if p.endswith(".arno-part")]


# ---- symbolic links in a folder being added ---------------------------------------------------

def tree_with_links(tmp_path):
    """A folder with links: to a file inside, to a folder inside, and (the ones that must not
    be followed) to a secret file and a folder outside it."""
    outside = write_tree(tmp_path / "outside", {"secret.txt": b"secret",
                                                "private/key.pem": b"key"})
    src = write_tree(tmp_path / "src", {"a.txt": b"a", "sub/b.txt": b"b"})
    (src / "link-in.txt").symlink_to(src / "a.txt")
    (src / "sub-link").symlink_to(src / "sub")
    (src / "stolen.txt").symlink_to(outside / "secret.txt")
    (src / "sub" / "up").symlink_to("../../outside/private")
    (src / "everything").symlink_to(tmp_path)
    return src


INSIDE = ["a.txt", "link-in.txt", "sub/b.txt"]  # sub-link: the folder sub, walked once


def test_links_leading_out_of_an_added_folder_are_skipped_with_a_warning(sdk, tmp_path,
                                                                         caplog):
    src = tree_with_links(tmp_path)
    ds = Dataset.create(dataset_name="links-out", dataset_project=project())
    with caplog.at_level("WARNING", logger="arno.datasets"):
        ds.add_files(src)
    assert ds.list_files() == INSIDE
    warned = caplog.text
    for name in ("stolen.txt", "up", "everything"):
        assert f"{src}" in warned and name in warned, warned
    ds.finalize(auto_upload=True)
    copy = Path(ds.get_local_copy())
    assert files_under(copy) == INSIDE
    assert (copy / "link-in.txt").read_bytes() == b"a"  # a link inside: its target's bytes

    synced = Dataset.create(dataset_name="links-sync", dataset_project=project())
    synced.sync_folder(src)
    assert synced.list_files() == INSIDE


def test_a_link_given_by_name_is_the_users_choice(sdk, tmp_path):
    src = tree_with_links(tmp_path)
    ds = Dataset.create(dataset_name="links-named", dataset_project=project())
    ds.add_files(src / "stolen.txt")  # named on purpose: its target is meant
    assert ds.list_files() == ["stolen.txt"]


def test_a_malicious_manifest_from_the_server_writes_nothing_outside(sdk, tmp_path,
                                                                     monkeypatch):
    from arno.client._dataset_cache import DatasetCache

    ds = Dataset.create(dataset_name="evil-server", dataset_project=project())
    ds.add_files(write_tree(tmp_path / "data", {"ok.txt": b"ok"}))
    ds.finalize(auto_upload=True)
    real = ds.file_entries_dict["ok.txt"]
    session = _context.session()
    honest_get = session.get
    for bad in ["../escape.txt", "C:/escape.txt", "a/../../escape.txt", "/tmp/escape.txt",
                "a\\..\\..\\escape.txt"]:
        def lying_get(path, _bad=bad, **params):
            answer = honest_get(path, **params)
            if path.endswith("/manifest"):
                entry = {"path": _bad, "size": real.size, "hash": real.hash,
                         "pieces": list(real.pieces)}
                answer = {**answer, "files": [*answer["files"], entry]}
            return answer

        monkeypatch.setattr(session, "get", lying_get)
        ds._working = None
        target = tmp_path / "work" / "target"
        with pytest.raises(InvalidInput, match="dataset file path"):
            ds.get_mutable_local_copy(target, overwrite=True)
        with pytest.raises(InvalidInput, match="dataset file path"):
            ds.get_local_copy()
        assert not [p for p in tmp_path.rglob("escape.txt")], bad
    assert not os.path.exists("/tmp/escape.txt")
    cache = DatasetCache(tmp_path / "cache", limit=1 << 30)
    try:
        for bad_id in ["../../escape", "/tmp/escape", "a" * 31 + "/"]:
            with pytest.raises(InvalidInput, match="not an id"):
                cache.path(bad_id)
    finally:
        cache.close()
