"""Login throttling (web form, HTTP Basic with a password or an API key), no user enumeration by
timing, browser sessions that end at logout / password change / disabling, and the security
headers on every response (CSP on HTML pages)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import LiveServer, start_server
from tests.ui.conftest import csrf_of, login_client

from arno.core.errors import TooManyRequests, error_from_body
from arno.services.throttle import LoginThrottle

API = "/api/v1"


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """3 failures per login name; addresses are not the limit here."""
    yield from start_server(tmp_path_factory.mktemp("throttled"), None, "sqlite",
                            login_failures_per_user=3, login_failures_per_address=1000,
                            login_failure_window=60)


@pytest.fixture(scope="module")
def by_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """4 failures per client address."""
    yield from start_server(tmp_path_factory.mktemp("by-address"), None, "sqlite",
                            login_failures_per_user=1000, login_failures_per_address=4,
                            login_failure_window=60)


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Limits high enough for timing many failures."""
    yield from start_server(tmp_path_factory.mktemp("roomy"), None, "sqlite",
                            login_failures_per_user=1000, login_failures_per_address=1000,
                            max_body_bytes=10_000)


def _basic(live: LiveServer, login: str, secret: str) -> httpx.Response:
    with httpx.Client(base_url=live.url, auth=(login, secret), timeout=60) as c:
        return c.get(f"{API}/me")


def _assert_429(resp: httpx.Response, window: int = 60) -> None:
    assert resp.status_code == 429, resp.text[:300]
    assert 1 <= int(resp.headers["retry-after"]) <= window
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["error"]["code"] == "too_many_requests"
    assert isinstance(error_from_body(429, resp.json()), TooManyRequests)


# ---- throttling ----------------------------------------------------------------------------


def test_basic_password_the_fourth_try_after_three_failures_gets_429(throttled):
    throttled.services.auth.create_user("carol", password="carol-password")
    throttled.services.auth.create_user("dave", password="dave-password")
    for _ in range(3):
        assert _basic(throttled, "carol", "wrong-password").status_code == 401
    _assert_429(_basic(throttled, "carol", "carol-password"))  # even the right password waits
    assert _basic(throttled, "dave", "dave-password").status_code == 200  # others are not
    for _ in range(3):  # unknown names are counted alike (no telling who exists)
        assert _basic(throttled, "nobody-here", "whatever1").status_code == 401
    _assert_429(_basic(throttled, "nobody-here", "whatever1"))


def test_wrong_secrets_sent_for_an_api_key_do_not_lock_its_owner_out(throttled):
    """A key's secret cannot be guessed (256 random bits); counting failures against the key
    would let anyone who knows the access key stop its agent. They count by address."""
    throttled.services.auth.create_user("kim", password="kim-password")
    key = throttled.services.auth.create_key("kim")
    for _ in range(6):
        assert _basic(throttled, key.access_key, "not-the-secret").status_code == 401
    assert _basic(throttled, key.access_key, key.secret_key).status_code == 200
    with httpx.Client(base_url=throttled.url, timeout=60,  # the header form is the same login
                      headers={"x-arno-key": key.access_key,
                               "x-arno-secret": key.secret_key}) as c:
        assert c.get(f"{API}/me").status_code == 200


def test_api_key_guessing_from_one_address_is_throttled(tmp_path_factory):
    for live in start_server(tmp_path_factory.mktemp("key-by-address"), None, "sqlite",
                             login_failures_per_user=1000, login_failures_per_address=4,
                             login_failure_window=60):
        live.services.auth.create_user("kai", password="kai-password")
        key = live.services.auth.create_key("kai")
        for _ in range(4):
            assert _basic(live, key.access_key, "not-the-secret").status_code == 401
        _assert_429(_basic(live, key.access_key, key.secret_key))


def _login_form(c: httpx.Client, username: str, password: str) -> httpx.Response:
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    assert token
    return c.post("/login", data={"username": username, "password": password,
                                  "csrf_token": token.group(1), "next": "/"})


def test_web_login_is_throttled(throttled):
    throttled.services.auth.create_user("erin", password="erin-password")
    with httpx.Client(base_url=throttled.url, timeout=60, headers={"Accept": "text/html"}) as c:
        for _ in range(3):
            assert _login_form(c, "erin", "wrong-password").status_code == 401
        resp = _login_form(c, "erin", "erin-password")
        assert resp.status_code == 429
        assert 1 <= int(resp.headers["retry-after"]) <= 60
        assert "too many failed logins" in resp.text
        assert "arno_session" not in c.cookies


def test_successful_logins_do_not_count_and_clear_failures(throttled):
    throttled.services.auth.create_user("frank", password="frank-password")
    for _ in range(6):
        assert _basic(throttled, "frank", "frank-password").status_code == 200
    for _ in range(2):
        assert _basic(throttled, "frank", "wrong-password").status_code == 401
    assert _basic(throttled, "frank", "frank-password").status_code == 200
    for _ in range(2):
        assert _basic(throttled, "frank", "wrong-password").status_code == 401
    assert _basic(throttled, "frank", "frank-password").status_code == 200


def test_one_address_failing_with_many_names_is_throttled(by_address):
    for i in range(4):
        assert _basic(by_address, f"guess-{i}", "password1").status_code == 401
    _assert_429(_basic(by_address, "guess-new", "password1"))
    _assert_429(_basic(by_address, by_address.admin_key, by_address.admin_secret))


def test_throttle_window_and_bounded_memory():
    now = [1000.0]
    t = LoginThrottle(per_login=2, per_address=50, window=10, max_keys=5, clock=lambda: now[0])
    t.failed("a", "1.2.3.4")
    now[0] += 4
    t.failed("a", "1.2.3.4")
    with pytest.raises(TooManyRequests) as exc:
        t.check("a", "5.6.7.8")
    assert exc.value.retry_after == 6  # until the first failure is 10 s old
    now[0] += 6
    t.check("a", None)  # the window slid past the first failure
    for i in range(100):
        t.failed(f"name-{i}", None)
    assert len(t._logins._fails) == 5  # only the most recent names are remembered


# ---- no enumeration by timing ----------------------------------------------------------------


def test_unknown_user_takes_as_long_as_a_wrong_password(roomy):
    roomy.services.auth.create_user("tim", password="tim-password")
    roomy.services.auth.create_user("nopass")  # a user without a password
    times: dict[str, list[float]] = {"wrong": [], "unknown": [], "nopass": []}
    with httpx.Client(base_url=roomy.url, timeout=60) as c:
        c.get(f"{API}/me", auth=("warm-up", "x"))
        for i in range(7):
            for kind, login in (("wrong", "tim"), ("unknown", f"ghost-{i}"),
                                ("nopass", "nopass")):
                start = time.perf_counter()
                resp = c.get(f"{API}/me", auth=(login, f"bad-password-{i}"))
                times[kind].append(time.perf_counter() - start)
                assert resp.status_code == 401
    # the fastest of several tries: the cost of the work itself, least disturbed by a loaded
    # machine (a slow outlier says nothing; a fast answer cannot have hashed)
    wrong = min(times["wrong"])
    assert wrong > 0.005, times  # argon2 is being run
    assert min(times["unknown"]) >= 0.3 * wrong, times
    assert min(times["nopass"]) >= 0.3 * wrong, times


def test_unknown_user_costs_the_same_hashing_as_a_wrong_password(roomy):
    """The same comparison as above, in CPU time of the checking thread: what the server spends
    on each answer, whatever else the machine is doing (a loaded machine hides a missing hash
    in wall-clock time, never in CPU time)."""
    from arno.core.errors import Unauthorized

    auth = roomy.services.auth
    auth.create_user("cpu-tim", password="tim-password")
    auth.create_user("cpu-nopass")

    def cost(login: str) -> float:
        best = float("inf")
        for i in range(3):
            start = time.thread_time()
            with pytest.raises(Unauthorized):
                auth.authenticate(login, f"wrong-{i}")
            best = min(best, time.thread_time() - start)
        return best

    wrong = cost("cpu-tim")
    assert wrong > 0.005  # argon2 ran
    assert cost("cpu-ghost") >= 0.5 * wrong
    assert cost("cpu-nopass") >= 0.5 * wrong


# ---- browser sessions end --------------------------------------------------------------------


def _with_cookie(live: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=60, headers={"Accept": "text/html"},
                        cookies={"arno_session": token})


def _refused(live: LiveServer, token: str) -> None:
    with _with_cookie(live, token) as c:
        assert c.get(f"{API}/me", headers={"Accept": "application/json"}).status_code == 401
        page = c.get("/settings")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")


def _accepted(live: LiveServer, token: str) -> None:
    with _with_cookie(live, token) as c:
        assert c.get(f"{API}/me").status_code == 200
        assert c.get("/settings").status_code == 200


def test_a_cookie_taken_before_logout_is_refused_after(server):
    server.services.auth.create_user("sam", password="sam-password")
    c = login_client(server.url, "sam", "sam-password")
    other = login_client(server.url, "sam", "sam-password")  # another browser
    stolen = c.cookies["arno_session"]
    _accepted(server, stolen)
    resp = c.post("/logout", data={"csrf_token": csrf_of(c.get("/settings").text)})
    assert resp.status_code == 303
    _refused(server, stolen)
    _refused(server, other.cookies["arno_session"])  # logout ends every session of the user
    again = login_client(server.url, "sam", "sam-password")
    _accepted(server, again.cookies["arno_session"])
    for client in (c, other, again):
        client.close()


def test_a_password_change_ends_the_other_sessions(server):
    server.services.auth.create_user("pat", password="pat-password")
    mine = login_client(server.url, "pat", "pat-password")
    elsewhere = login_client(server.url, "pat", "pat-password")
    before = mine.cookies["arno_session"]
    resp = mine.post("/settings/password", data={
        "current": "pat-password", "password": "pat-new-password",
        "csrf_token": csrf_of(mine.get("/settings").text)})
    assert resp.status_code == 303 and "Password+changed" in resp.headers["location"]
    _refused(server, before)
    _refused(server, elsewhere.cookies["arno_session"])
    _accepted(server, mine.cookies["arno_session"])  # the browser that changed it stays in
    # a change made elsewhere (the API, the CLI) ends them too
    server.services.auth.set_password("pat", "pat-third-password")
    _refused(server, mine.cookies["arno_session"])
    mine.close()
    elsewhere.close()


def test_disabling_a_user_ends_its_sessions_for_good(server):
    server.services.auth.create_user("dora", password="dora-password")
    c = login_client(server.url, "dora", "dora-password")
    token = c.cookies["arno_session"]
    with server.client() as admin:
        assert admin.patch(f"{API}/users/dora", json={"disabled": True}).status_code == 200
        _refused(server, token)
        assert admin.patch(f"{API}/users/dora", json={"disabled": False}).status_code == 200
    _refused(server, token)  # enabled again, the old cookie still does not work
    c.close()


# ---- headers on every response ---------------------------------------------------------------

_EVERY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
          "referrer-policy": "same-origin"}


def _has_security_headers(resp: httpx.Response, html: bool = False) -> None:
    what = f"{resp.request.method} {resp.request.url.path} -> {resp.status_code}"
    for name, value in _EVERY.items():
        assert resp.headers.get_list(name) == [value], (what, name, resp.headers)
    csp = resp.headers.get("content-security-policy", "")
    if html:
        assert resp.headers["content-type"].startswith("text/html"), what
        for part in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                     "frame-ancestors 'none'", "form-action 'self'"):
            assert part in csp, (what, csp)
        script = csp.split("script-src")[1].split(";")[0]
        assert "'self'" in script and "unsafe-inline" not in script, (what, csp)


def test_security_headers_on_json_errors_404s_and_static(roomy):
    with roomy.client() as c:
        _has_security_headers(c.get(f"{API}/projects"))  # JSON
        _has_security_headers(c.get(f"{API}/tasks/{'0' * 32}"))  # JSON 404
        _has_security_headers(c.get(f"{API}/no-such-route"))
        _has_security_headers(c.post(f"{API}/tasks", json={"name": 1}))  # 422
        _has_security_headers(c.get("/health"))
        _has_security_headers(c.get("/static/js/arno.js"))
        _has_security_headers(c.get("/static/css/arno.css"))
        _has_security_headers(c.get("/static/plotly.min.js"))
        _has_security_headers(c.get("/static/nothing.js"))  # static 404
        big = c.post(f"{API}/projects", content=b"x" * 20_000,
                     headers={"content-type": "application/json"})
        assert big.status_code == 413
        _has_security_headers(big)  # answered by the body-limit middleware itself
    with httpx.Client(base_url=roomy.url, timeout=60) as anon:
        _has_security_headers(anon.get(f"{API}/projects"))  # 401
        html = {"Accept": "text/html"}
        _has_security_headers(anon.get("/login", headers=html), html=True)
        _has_security_headers(anon.get("/no/such/page", headers=html), html=True)  # 404 page
    with roomy.client() as c:
        c.headers["accept"] = "text/html"
        _has_security_headers(c.get("/"), html=True)
        _has_security_headers(c.get(f"/tasks/{'0' * 32}"), html=True)  # error page
        _has_security_headers(c.get("/settings"), html=True)
        docs = c.get(f"{API}/docs")
        _has_security_headers(docs)
        assert "'sha256-" in docs.headers["content-security-policy"]


def test_security_headers_when_the_address_is_not_allowed(tmp_path):
    gen = start_server(tmp_path, None, "sqlite", allowed_networks=["10.0.0.0/8"])
    live = next(gen)
    try:
        resp = httpx.get(live.url + "/health", timeout=60)
        assert resp.status_code == 403
        _has_security_headers(resp)
    finally:
        gen.close()


def test_security_headers_on_unexpected_errors(roomy, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(roomy.services.projects, "list", boom)
    with roomy.client() as c:
        resp = c.get(f"{API}/projects")
        assert resp.status_code == 500
        _has_security_headers(resp)
