"""The security tests drive the CLI and the browser with the fixtures of those test folders."""

from tests.cli.conftest import cli  # noqa: F401
from tests.ui.conftest import browser  # noqa: F401
