"""Dataset versions for the UI tests, made through the HTTP API as a client makes them (pieces
packed with PackWriter, packs uploaded, manifest PUT, finalize)."""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass, field

from tests.conftest import LiveServer
from tests.services.dataset_helpers import build, create, publish, put_manifest, upload

from arno.core.schemas import EventBatch, PlotIn

PNG = bytes.fromhex(  # 2x2 red PNG
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73000000164944415478"
    "9c63f8cfc0f01f0418181800000dc001e2f3f51d9e0000000049454e44ae426082")
XSS_NAME = "notes/<img src=x onerror=alert(1)>.txt"


def gradient_png(w: int = 160, h: int = 100) -> bytes:
    from PIL import Image

    img = Image.new("RGB", (w, h))
    img.putdata([(x * 255 // w, y * 255 // h, 160) for y in range(h) for x in range(w)])
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def csv_rows(n: int, tag: str) -> bytes:
    return ("id,label,score\n" + "".join(f"{i},{tag}{i},{i / 10}\n" for i in range(n))).encode()


@dataclass
class World:
    project: str
    name: str
    other: str
    v1: dict
    v2: dict
    merged: dict
    draft: dict
    other_v1: dict
    many: dict
    files: dict[str, bytes] = field(default_factory=dict)
    """v1's files."""
    v2_files: dict[str, bytes] = field(default_factory=dict)


def make_world(server: LiveServer) -> World:
    """Dataset ``name`` (project ``<p>/images``): v1 with tables, texts, an image, a binary, a
    multi-piece file and an empty file; v2 (child of v1) modifies a CSV, removes a text and
    adds a CSV; a merge of v2 with dataset ``other`` (project ``<p>/other``); a draft child of
    v2. Dataset ``many``: 450 files in three folders, for paging. v2 has a reported plot."""
    tag = uuid.uuid4().hex[:6]
    project = f"uidata-{tag}"
    name, other = f"images-{tag}", f"other-{tag}"
    files = {
        "train/a.csv": csv_rows(150, "a"),
        "train/b.tsv": b"x\ty\n1\t2\n3\t4\n",
        "notes/readme.txt": b"Read me first.\nLine two.\n",
        "notes/meta.json": b'{"classes": ["cat", "dog"], "n": 2}',
        XSS_NAME: b"<script>alert(1)</script>",
        "img/red.png": PNG,
        "img/gradient.png": gradient_png(),
        "blob/random.bin": b"\x00\x01\x02" + os.urandom(1000),
        "big/large.bin": os.urandom(200_000),
        "empty.txt": b"",
    }
    with server.client() as c:
        content = build(files)
        v1 = publish(c, name, content.files, content.pack, project=f"{project}/images",
                     tags=["raw"], description="first cut")
        v2_files = {**files, "train/a.csv": csv_rows(120, "b"), "train/c.csv": csv_rows(3, "c")}
        del v2_files["notes/readme.txt"]
        content2 = build(v2_files)
        v2 = publish(c, name, content2.files, content2.pack, parents=[v1["id"]],
                     project=f"{project}/images", tags=["clean"])
        other_content = build({"extra/labels.csv": csv_rows(5, "o")})
        other_v1 = publish(c, other, other_content.files, other_content.pack,
                           project=f"{project}/other", tags=["raw"])
        merged_files = {**v2_files, "extra/labels.csv": csv_rows(5, "o")}
        merged_content = build(merged_files)
        merged = publish(c, name, merged_content.files, merged_content.pack,
                         parents=[v2["id"], other_v1["id"]], project=f"{project}/images")
        draft = create(c, name, f"{project}/images", parents=[v2["id"]])
        many_files = {f"many/d{i % 3}/f{i:04d}.txt": f"file {i}\n".encode() for i in range(750)}
        many_content = build(many_files)
        many = create(c, f"many-{tag}", f"{project}/images")
        upload(c, many_content.pack)
        put_manifest(c, many["id"], many_content.files)
        resp = c.post(f"/api/v1/datasets/{many['id']}/finalize")
        assert resp.status_code == 200, resp.text
        many = resp.json()
    server.services.events.ingest(v2["id"], EventBatch(
        batch_id=uuid.uuid4().hex,
        plots=[PlotIn(metric="class balance", variant="train", timestamp=1_700_000_000.0,
                      figure={"data": [{"type": "bar", "x": ["cat", "dog"], "y": [3, 5]}],
                              "layout": {}})]))
    return World(project, name, other, v1, v2, merged, draft, other_v1, many, files, v2_files)
