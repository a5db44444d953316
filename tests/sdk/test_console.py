"""ConsoleCapture, exercised in a real child interpreter whose stdout/stderr are pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from arno.sdk._console import _LineAssembler

SRC = Path(__file__).resolve().parents[2] / "src"


def run_child(body: str, tmp_path: Path) -> tuple[dict[str, Any], str, str]:
    """Run ``body`` in a child Python with ``got`` (captured lines) and ``cap`` set up.

    The child dumps ``result`` (a dict it fills) plus the captured lines as JSON.
    """
    out_file = tmp_path / "captured.json"
    script = (
        textwrap.dedent(
            """
        import json, sys, threading
        from arno.sdk._console import ConsoleCapture

        got = []
        result = {}
        cap = ConsoleCapture(lambda lines: got.extend(lines))
        """
        )
        + textwrap.dedent(body)
        + textwrap.dedent(
            f"""
        cap.stop()
        result["lines"] = got
        with open({str(out_file)!r}, "w", encoding="utf-8") as fh:
            json.dump(result, fh)
        """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONIOENCODING="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, env=env, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    result = json.loads(out_file.read_text(encoding="utf-8"))
    return (
        result,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def texts(result: dict[str, Any], stream: str) -> list[str]:
    return [text for name, text, _ in result["lines"] if name == stream]


def test_lines_progress_bars_bytes_long_lines_and_stderr(tmp_path: Path) -> None:
    result, stdout, stderr = run_child(
        """
        import time
        started = time.time()
        cap.start()
        print("hello world")
        print("two", "parts")
        sys.stdout.write("10%\\r20%\\r")
        sys.stdout.write("100%\\n")
        sys.stdout.write("windows line\\r\\n")
        sys.stdout.flush()
        sys.stdout.buffer.write(b"bad \\xff\\xfe bytes\\n")
        sys.stdout.buffer.write(b"caf\\xc3")          # a UTF-8 sequence split over two writes
        sys.stdout.buffer.write(b"\\xa9 ok\\n")
        sys.stdout.buffer.flush()
        sys.stdout.write("x" * 2_000_000 + "\\n")
        print("to stderr", file=sys.stderr)
        sys.stderr.write("err without newline")
        result["tee"] = {
            "isatty": sys.stdout.isatty(),
            "fileno": sys.stdout.fileno(),
            "stderr_fileno": sys.stderr.fileno(),
            "encoding": sys.stdout.encoding,
            "has_buffer_fileno": sys.stdout.buffer.fileno(),
        }
        sys.stdout.flush()
        result["started"] = started
        cap.stop()
        cap.stop()  # idempotent
        result["restored"] = sys.stdout is sys.__stdout__ and sys.stderr is sys.__stderr__
        print("after stop is not captured")
        """,
        tmp_path,
    )
    out = texts(result, "stdout")
    assert out[:7] == [
        "hello world",
        "two parts",
        "100%",
        "windows line",
        "bad \ufffd\ufffd bytes",
        "caf\u00e9 ok",
        out[6],
    ]
    assert len(out) == 7
    long_line = out[6]
    assert long_line.startswith("x" * 1_048_576)
    assert long_line.endswith(" ... [truncated 951424 characters]")
    assert len(long_line) == 1_048_576 + len(" ... [truncated 951424 characters]")

    assert texts(result, "stderr") == ["to stderr", "err without newline"]
    times = [t for _, _, t in result["lines"]]
    assert times == sorted(times)
    assert result["started"] <= times[0] <= times[-1] + 1

    assert result["tee"] == {
        "isatty": False,
        "fileno": 1,
        "stderr_fileno": 2,
        "encoding": "utf-8",
        "has_buffer_fileno": 1,
    }
    assert result["restored"] is True

    # The real streams still got everything, untruncated and uncollapsed.
    assert "hello world\n" in stdout
    assert "10%\r20%\r100%\n" in stdout
    assert "caf\u00e9 ok\n" in stdout
    assert "x" * 2_000_000 + "\n" in stdout
    assert "after stop is not captured" in stdout
    assert "to stderr\nerr without newline" in stderr
    assert not any("after stop" in text for _, text, _ in result["lines"])


def test_flush_partial_reports_the_visible_progress_state(tmp_path: Path) -> None:
    result, stdout, _ = run_child(
        """
        cap.start()
        sys.stdout.write("downloading 50%\\rdownloading 99%")
        result["before_flush"] = list(got)
        cap.flush_partial()
        sys.stdout.write(" done\\n")
        """,
        tmp_path,
    )
    assert result["before_flush"] == []
    assert texts(result, "stdout") == ["downloading 99%", " done"]
    assert "downloading 50%\rdownloading 99% done\n" in stdout


def test_threads_and_logging_handlers_are_captured(tmp_path: Path) -> None:
    result, _, stderr = run_child(
        """
        import logging
        cap.start()
        logging.basicConfig(level=logging.INFO, format="%(message)s")  # binds our sys.stderr

        def work(i):
            for j in range(300):
                sys.stdout.write(f"thread {i} line {j}\\n")
            logging.info("thread %d done", i)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        """,
        tmp_path,
    )
    out = texts(result, "stdout")
    assert sorted(out) == sorted(f"thread {i} line {j}" for i in range(4) for j in range(300))
    assert sorted(texts(result, "stderr")) == [f"thread {i} done" for i in range(4)]
    assert "thread 3 done" in stderr


def test_a_failing_or_printing_callback_never_breaks_print(tmp_path: Path) -> None:
    result, stdout, stderr = run_child(
        """
        calls = []

        def on_lines(lines):
            calls.append([text for _, text, _ in lines])
            print("callback output")  # must not be captured again (no recursion)
            if len(calls) == 1:
                raise RuntimeError("sender is down")
            got.extend(lines)

        cap = ConsoleCapture(on_lines)
        cap.start()
        print("first")
        print("second")
        print("third")
        result["calls"] = calls
        """,
        tmp_path,
    )
    assert result["calls"] == [["first"], ["second"], ["third"]]
    assert texts(result, "stdout") == ["second", "third"]
    assert stdout.count("callback output") == 3
    assert "first\n" in stdout and "third\n" in stdout
    assert stderr.count("arno: console capture callback failed: RuntimeError") == 1


def test_stop_leaves_a_stream_replaced_by_someone_else(tmp_path: Path) -> None:
    result, _, _ = run_child(
        """
        import io
        cap.start()
        ours = sys.stdout
        other = io.StringIO()
        sys.stdout = other
        cap.stop()
        result["kept_other"] = sys.stdout is other
        sys.stdout = sys.__stdout__
        ours.write("through a stale tee\\n")  # writes through, not captured
        """,
        tmp_path,
    )
    assert result["kept_other"] is True
    assert result["lines"] == []


# -- the line assembler on its own --------------------------------------------------------


def feed(assembler: _LineAssembler, *chunks: str) -> list[str]:
    lines: list[str] = []
    for chunk in chunks:
        lines.extend(text for _, text, _ in assembler.feed_text(chunk, 0.0))
    return lines


def test_assembler_carriage_return_rules() -> None:
    a = _LineAssembler("stdout", 100)
    assert feed(a, "10%\r20%\r100%\n") == ["100%"]
    assert feed(a, "abc\r", "\n") == ["abc"]  # "\r\n" split across writes
    assert feed(a, "abc\r", "xy\n") == ["xy"]  # a lone "\r" restarts the line
    assert feed(a, "\r 1%", "\r 2%", "\r 3%", "\n") == [" 3%"]  # tqdm style
    assert feed(a, "a\n\nb\n") == ["a", "", "b"]
    assert feed(a, "pending") == []
    assert a.take_partial(1.0) == ("stdout", "pending", 1.0)
    assert a.take_partial(1.0) is None


def test_assembler_truncation_is_undone_by_a_carriage_return() -> None:
    a = _LineAssembler("stdout", 5)
    assert feed(a, "abcdefgh\n") == ["abcde ... [truncated 3 characters]"]
    assert feed(a, "abc", "defg", "\n") == ["abcde ... [truncated 2 characters]"]
    assert feed(a, "a" * 50, "\rok\n") == ["ok"]


def test_assembler_bytes() -> None:
    a = _LineAssembler("stdout", 100)
    assert [t for _, t, _ in a.feed_bytes(b"\xe2\x82", 0.0)] == []
    assert [t for _, t, _ in a.feed_bytes(b"\xac!\n", 0.0)] == ["\u20ac!"]
    a.feed_bytes(b"half \xe2\x82", 0.0)
    assert a.take_partial(0.0) == ("stdout", "half \ufffd", 0.0)
    a.feed_bytes(b"\xe2", 0.0)
    assert feed(a, "text\n") == ["\ufffdtext"]
    lone_surrogate = "a\udcff"
    assert feed(a, lone_surrogate + "\n") == ["a\ufffd"]
