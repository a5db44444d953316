"""Debug images and media: arrays of every shape/dtype become PNGs PIL reads back."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from arno.core.errors import InvalidInput
from arno.sdk._images import encode_image, encode_media, sniff_content_type


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format == "PNG"
    return img


@pytest.mark.parametrize(
    ("array", "mode"),
    [
        (np.zeros((6, 4), dtype=np.uint8), "L"),
        (np.zeros((6, 4, 1), dtype=np.uint8), "L"),
        (np.zeros((6, 4, 3), dtype=np.uint8), "RGB"),
        (np.zeros((6, 4, 4), dtype=np.uint8), "RGBA"),
        (np.zeros((6, 4), dtype=np.float32), "L"),
        (np.zeros((6, 4, 3), dtype=np.float64), "RGB"),
        (np.zeros((6, 4, 4), dtype=np.float16), "RGBA"),
        (np.zeros((6, 4), dtype=np.int64), "L"),
        (np.zeros((6, 4, 3), dtype=np.uint16), "RGB"),
        (np.zeros((6, 4), dtype=bool), "L"),
    ],
)
def test_array_shapes_and_dtypes(array: np.ndarray, mode: str) -> None:
    data, ctype = encode_image(array)
    assert ctype == "image/png"
    img = decode(data)
    assert img.size == (4, 6)  # PIL sizes are (width, height)
    assert img.mode == mode


def test_uint8_pixels_are_exact() -> None:
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    img = decode(encode_image(arr)[0])
    np.testing.assert_array_equal(np.asarray(img), arr)


def test_float_in_unit_range_is_scaled() -> None:
    arr = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    px = np.asarray(decode(encode_image(arr)[0]))
    np.testing.assert_array_equal(px, [[0, 128, 255]])


def test_float_outside_unit_range_is_clipped_not_scaled() -> None:
    arr = np.array([[-5.0, 2.0, 100.4, 300.0]])
    px = np.asarray(decode(encode_image(arr)[0]))
    np.testing.assert_array_equal(px, [[0, 2, 100, 255]])


def test_float_nan_and_inf() -> None:
    arr = np.array([[np.nan, 1.0, np.inf, -np.inf]])
    px = np.asarray(decode(encode_image(arr)[0]))
    np.testing.assert_array_equal(px, [[0, 255, 255, 0]])


def test_integers_are_clipped() -> None:
    arr = np.array([[-10, 0, 128, 1000]], dtype=np.int32)
    px = np.asarray(decode(encode_image(arr)[0]))
    np.testing.assert_array_equal(px, [[0, 0, 128, 255]])


def test_bool_is_black_and_white() -> None:
    px = np.asarray(decode(encode_image(np.array([[True, False]]))[0]))
    np.testing.assert_array_equal(px, [[255, 0]])


def test_rgba_alpha_kept() -> None:
    arr = np.zeros((1, 1, 4), dtype=np.uint8)
    arr[0, 0] = (10, 20, 30, 40)
    px = np.asarray(decode(encode_image(arr)[0]))
    assert tuple(px[0, 0]) == (10, 20, 30, 40)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 2, 2)),
        np.zeros((2, 2, 5)),
        np.zeros(5),
        np.zeros((0, 3)),
        np.zeros((2, 2), complex),
    ],
)
def test_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(InvalidInput):
        encode_image(bad)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "1", "LA", "CMYK", "YCbCr", "I;16"])
def test_pil_images_of_any_mode(mode: str) -> None:
    img = Image.new(mode, (7, 3))
    out = decode(encode_image(img)[0])
    assert out.size == (7, 3)


def test_pil_float_image_uses_float_rules() -> None:
    img = Image.fromarray(np.array([[0.0, 1.0]], dtype=np.float32))
    assert img.mode == "F"
    px = np.asarray(decode(encode_image(img)[0]))
    np.testing.assert_array_equal(px, [[0, 255]])


def test_max_size_shrinks_keeping_aspect_and_leaves_input_alone() -> None:
    img = Image.new("RGB", (400, 100))
    out = decode(encode_image(img, max_size=100)[0])
    assert out.size == (100, 25)
    assert img.size == (400, 100)
    out = decode(encode_image(np.zeros((100, 400)), max_size=(50, 50))[0])
    assert out.size == (50, 12) or out.size == (50, 13)
    small = decode(encode_image(Image.new("L", (10, 10)), max_size=100)[0])
    assert small.size == (10, 10)


def test_bad_max_size() -> None:
    with pytest.raises(InvalidInput):
        encode_image(np.zeros((2, 2)), max_size=0)


@pytest.mark.parametrize(
    ("suffix", "fmt", "ctype"),
    [(".png", "PNG", "image/png"), (".jpg", "JPEG", "image/jpeg"), (".gif", "GIF", "image/gif")],
)
def test_image_file_is_sent_as_is(tmp_path: Path, suffix: str, fmt: str, ctype: str) -> None:
    path = tmp_path / f"pic{suffix}"
    Image.new("RGB", (20, 10), "red").save(path, format=fmt)
    for ref in (path, str(path)):
        data, got = encode_image(ref)
        assert data == path.read_bytes()
        assert got == ctype


def test_image_file_without_extension_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "picture"
    Image.new("RGB", (2, 2)).save(path, format="JPEG")
    assert encode_image(path)[1] == "image/jpeg"
    assert encode_image(path.read_bytes())[1] == "image/jpeg"


def test_large_image_file_is_shrunk_to_png(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (300, 150)).save(path)
    data, ctype = encode_image(path, max_size=60)
    assert ctype == "image/png"
    assert decode(data).size == (60, 30)
    data, ctype = encode_image(path, max_size=1000)
    assert (data, ctype) == (path.read_bytes(), "image/jpeg")


def test_non_image_inputs(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InvalidInput, match="not an image"):
        encode_image(text)
    with pytest.raises(InvalidInput, match="no image file"):
        encode_image(tmp_path / "missing.png")
    with pytest.raises(InvalidInput):
        encode_image(12345)


# --------------------------------------------------------------------------- media


def test_media_from_path_by_extension(tmp_path: Path) -> None:
    for name, kind, ctype in [
        ("a.wav", "audio", "audio/wav"),
        ("a.mp3", "audio", "audio/mpeg"),
        ("v.mp4", "video", "video/mp4"),
        ("v.webm", "video", "video/webm"),
        ("p.html", "html", "text/html; charset=utf-8"),
    ]:
        path = tmp_path / name
        path.write_bytes(b"\x00payload")
        data, got = encode_media(path, kind)
        assert data == b"\x00payload"
        assert got == ctype


def test_media_bytes_are_sniffed() -> None:
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20
    assert encode_media(wav, "audio") == (wav, "audio/wav")
    mp4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 10
    assert encode_media(mp4, "video")[1] == "video/mp4"
    assert encode_media(b"OggS\x00", "audio")[1] == "audio/ogg"
    assert encode_media(b"OggS\x00", "video")[1] == "video/ogg"
    assert encode_media(b"\x00\x01unknown", "audio")[1] == "application/octet-stream"


def test_media_extension_override_and_file_objects() -> None:
    assert encode_media(b"xx", "audio", file_extension="flac")[1] == "audio/flac"
    stream: Any = io.BytesIO(b"ID3\x03rest")
    assert encode_media(stream, "audio") == (b"ID3\x03rest", "audio/mpeg")


def test_html_text_and_bytes() -> None:
    html = "<h1>Résumé</h1>"
    assert encode_media(html, "html") == (html.encode("utf-8"), "text/html; charset=utf-8")
    assert encode_media(b"<p>x</p>", "html")[1] == "text/html; charset=utf-8"
    long_html = "<p>" + "x" * 10_000 + "</p>"
    assert encode_media(long_html, "html")[0] == long_html.encode()


def test_media_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="media kind"):
        encode_media(b"x", "podcast")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no audio file"):
        encode_media(str(tmp_path / "missing.wav"), "audio")
    with pytest.raises(InvalidInput):
        encode_media(3.14, "video")


def test_sniff_unknown_is_none() -> None:
    assert sniff_content_type(b"") is None
    assert sniff_content_type(b"plain text") is None


_BLOCK_OPTIONAL = """
import sys

class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"numpy", "pandas", "PIL"}:
            raise ImportError(name + " is not installed here")
        return None

sys.meta_path.insert(0, _Block())
"""


def test_files_and_media_work_without_numpy_and_pillow(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import arno.sdk._images as images

    Image.new("RGB", (8, 8)).save(tmp_path / "pic.png")
    src_root = Path(images.__file__).resolve().parents[2]
    code = (
        _BLOCK_OPTIONAL
        + """
from arno.sdk._images import encode_image, encode_media
data, ctype = encode_image("pic.png", max_size=2)  # cannot measure: sent as is
assert ctype == "image/png" and data == open("pic.png", "rb").read()
assert encode_media(b"ID3x", "audio")[1] == "audio/mpeg"
assert "numpy" not in sys.modules and "PIL" not in sys.modules
"""
    )
    env = {**os.environ, "PYTHONPATH": str(src_root)}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)


def test_image_kind_and_html_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    Image.new("P", (3, 3)).save(path)
    assert encode_media(path, "image") == (path.read_bytes(), "image/gif")
    assert encode_media(path.read_bytes(), "image")[1] == "image/gif"
    page = b"\xef\xbb\xbf\n<!DOCTYPE html><html></html>"
    assert sniff_content_type(page) == "text/html; charset=utf-8"
    assert encode_media(page, "audio")[1] == "application/octet-stream"
