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
                                  "a//b", "./a", "a\\..\\b", "nul\x00byte", ""])
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
