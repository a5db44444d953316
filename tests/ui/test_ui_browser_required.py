"""The browser tests skip where Chromium is absent, except under CI (``CI`` set, as ``.ci/run``
does), where a missing browser fails the run instead of letting it pass untested."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.ui.conftest import no_browser

CI_RUN = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_a_missing_browser_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium here"):
        no_browser("no chromium here")


def test_a_missing_browser_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set .* no chromium here"):
        no_browser("no chromium here")


def test_ci_runs_with_ci_set() -> None:
    lines = [ln.strip() for ln in CI_RUN.read_text().splitlines()]
    assert "export CI=1" in lines
    assert lines.index("export CI=1") < next(i for i, ln in enumerate(lines)
                                             if "python -m pytest" in ln)
