"""The whole API under Schemathesis: every operation of ``/api/v1/openapi.json`` gets valid and
invalid requests (bodies, query and path parameters), with an admin's credentials and with
none. The server may refuse anything, but never with a 5xx, and an answer it documents must
match its schema; without credentials every operation answers 401, whatever the request.

The example count is bounded so the module runs in a minute or two on two cores, and examples
are derandomized, so a run is repeatable (``ARNO_FUZZ_EXAMPLES`` raises the count). Each
operation runs as its own Hypothesis test inside one pytest test, so one failing operation
does not hide the others; the failures are listed together at the end.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)
from tests.conftest import LiveServer, start_server  # noqa: E402

from arno.blobstore import hash_bytes  # noqa: E402

EXAMPLES = int(os.environ.get("ARNO_FUZZ_EXAMPLES", "20"))
TIMEOUT = 30
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(tmp_path_factory.mktemp("fuzz-home"), None, "sqlite")


@pytest.fixture(scope="module")
def operations(fuzz_server: LiveServer) -> list[Any]:
    schema = schemathesis.openapi.from_url(
        f"{fuzz_server.url}/api/v1/openapi.json",
        auth=(fuzz_server.admin_key, fuzz_server.admin_secret), timeout=TIMEOUT,
    )
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) > 40, "the OpenAPI document lists fewer operations than expected"
    return ops


def _short_wait(case: Any) -> Any:
    """A worker's long poll waits at most half a second here (30 s when not said)."""
    if (case.path.endswith("/dequeue") and isinstance(case.body, dict)
            and isinstance(case.body.get("wait", 0), int | float)):
        case.body["wait"] = min(case.body.get("wait", 0.5), 0.5)
    return case


def _negatable(op: Any, seeded: bool) -> bool:
    """Whether anything in the operation's request can be made invalid: a body, or a
    parameter that is more than a free string (seeded path parameters are fixed). Asking for
    invalid requests of an operation that has none costs Hypothesis hundreds of tries."""
    if op.body:
        return True
    params = list(op.query) + ([] if seeded else list(op.path_parameters))
    for param in params:
        schema = param.definition.get("schema", {})
        if set(schema) - {"type", "title", "description"} or schema.get("type") != "string":
            return True
    return False


def _fuzz(operations: list[Any], check: Callable[[Any], None],
          seeds: Callable[[Any], dict[str, str]] | None = None) -> tuple[int, list[str]]:
    """Run ``check`` on generated cases of every operation, valid and invalid ones; the
    number of cases run and one line per failing operation and mode. With ``seeds``, only
    operations with path parameters run, each with the ids of objects made for it (so the
    generated bodies and queries reach the services instead of a 404)."""
    count = 0
    failures: list[str] = []
    for op in operations:
        path_parameters = None
        if seeds is not None:
            if "{" not in op.path:
                continue
            path_parameters = seeds(op)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode == GenerationMode.NEGATIVE and not _negatable(op, seeds is not None):
                continue
            strategy = op.as_strategy(generation_mode=mode, path_parameters=path_parameters)

            @given(case=strategy.map(_short_wait))
            @FUZZ_SETTINGS
            def run(case: Any) -> None:
                nonlocal count
                count += 1
                try:
                    check(case)
                except Exception as exc:
                    raise AssertionError(f"{case.as_curl_command()}\n{exc}") from exc

            t0 = time.monotonic()
            try:
                run()
            except Unsatisfiable:
                pass  # nothing in this operation can be made invalid (no body, free strings)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): "
                                f"{str(exc).strip()[:1500]}")
            if os.environ.get("ARNO_FUZZ_TIMES"):
                print(f"{time.monotonic() - t0:6.2f} s {op.method.upper()} {op.path} {mode.value}")
    return count, failures


def _report(what: str, operations: list[Any], count: int, started: float,
            failures: list[str]) -> None:
    print(f"\n{what}: {len(operations)} operations, {count} cases, "
          f"{time.monotonic() - started:.1f} s, {len(failures)} failing")
    assert not failures, "\n\n".join(failures)


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_with_credentials_no_server_error_and_answers_match_their_schema(
        fuzz_server: LiveServer, operations: list[Any]) -> None:
    auth = (fuzz_server.admin_key, fuzz_server.admin_secret)

    def check(case: Any) -> None:
        case.call_and_validate(auth=auth, timeout=TIMEOUT, checks=CHECKS)

    started = time.monotonic()
    count, failures = _fuzz(operations, check)
    _report("with credentials", operations, count, started, failures)


class Seeds:
    """Fresh objects for one operation's path parameters: a task with parameters,
    configuration, metrics and an artifact, a stored blob, a project, a queue with the task
    in it, a registered worker, a user and a key, a draft dataset version."""

    def __init__(self, server: LiveServer, client: httpx.Client) -> None:
        self.server = server
        self.c = client

    def _post(self, path: str, body: dict[str, Any], method: str = "POST") -> dict[str, Any]:
        resp = self.c.request(method, f"/api/v1{path}", json=body)
        assert resp.status_code in (200, 201), f"{path}: {resp.text}"
        return resp.json()  # type: ignore[no-any-return]

    def __call__(self, op: Any) -> dict[str, str]:
        tag = uuid.uuid4().hex[:8]
        values: dict[str, str] = {}
        params = {p.name for p in op.path_parameters}
        if "task_id" in params:
            task = self._post("/tasks", {
                "project": f"fuzz/{tag}", "name": f"seed-{tag}",
                "hyperparams": [{"section": "General", "name": "lr", "value": "0.1"}],
                "configurations": [{"name": "cfg", "value": "{}"}],
                "user_properties": {"k": "v"}})
            self._post(f"/tasks/{task['id']}/events", {
                "batch_id": uuid.uuid4().hex, "scalars": [
                    {"metric": "loss", "variant": "train", "iterations": [0, 1],
                     "values": [1.0, 0.5], "timestamps": [1.0, 2.0]}],
                "console": [{"text": "hello", "timestamp": 1.0}]})
            values["task_id"] = task["id"]
        if "name" in params:
            self._post(f"/tasks/{values['task_id']}/artifacts/model",
                       {"uri": "https://example.invalid/model.bin"}, "PUT")
            values["name"] = "model"
        if "hash" in params and op.path.startswith("/api/v1/blobs"):
            data = f"blob {tag}".encode()
            values["hash"] = hash_bytes(data)
            assert self.c.put(f"/api/v1/blobs/{values['hash']}", content=data).status_code == 200
        if "ref" in params and op.path.startswith("/api/v1/projects"):
            values["ref"] = self._post("/projects", {"name": f"fuzz-{tag}"})["name"]
        if "ref" in params and op.path.startswith("/api/v1/queues"):
            values["ref"] = self._post("/queues", {"name": f"q-{tag}"})["name"]
            task = self._post("/tasks", {"project": "fuzz", "name": f"queued-{tag}"})
            self._post(f"/tasks/{task['id']}/enqueue", {"queue": values["ref"]})
        if "worker_id" in params:
            values["worker_id"] = self._post("/workers", {
                "id": f"w-{tag}", "host": "fuzz", "queues": ["default"]})["id"]
        if "user" in params:
            values["user"] = self.server.services.auth.create_user(f"u-{tag}").username
        if "key" in params:
            self.server.services.auth.create_user(f"k-{tag}")
            values["key"] = self.server.services.auth.create_key(f"k-{tag}").id
        if "vid" in params:
            values["vid"] = self._post("/datasets", {"name": f"d-{tag}", "project": "fuzz"})["id"]
        return values


def test_with_credentials_on_existing_objects(fuzz_server: LiveServer,
                                              operations: list[Any]) -> None:
    """Every operation on an object again, with ids of objects that exist: a task that has
    inputs and outputs, a draft dataset version, a queue with an entry, a worker."""
    auth = (fuzz_server.admin_key, fuzz_server.admin_secret)

    def check(case: Any) -> None:
        case.call_and_validate(auth=auth, timeout=TIMEOUT, checks=CHECKS)

    started = time.monotonic()
    with fuzz_server.client() as client:
        count, failures = _fuzz(operations, check, Seeds(fuzz_server, client))
    _report("with credentials, existing objects", operations, count, started, failures)


def test_without_credentials_everything_is_401(operations: list[Any]) -> None:
    def check(case: Any) -> None:
        response = case.call(timeout=TIMEOUT)
        assert response.status_code == 401, f"{response.status_code} {response.text[:300]}"
        if case.method.upper() != "HEAD":
            assert response.json()["error"]["code"] == "unauthorized"

    api = [op for op in operations if op.path.startswith("/api/")]  # not /health
    started = time.monotonic()
    count, failures = _fuzz(api, check)
    _report("without credentials", api, count, started, failures)
