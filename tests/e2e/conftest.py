"""End-to-end fixtures: the real app under gunicorn on the demo data, driven by Debian's Chromium.

One server per run (session scope): the test database is emptied, `flask demo load` fills it
exactly as an operator would (the translations were compiled when the run started, tests/conftest.py),
and gunicorn serves `wsgi:app`
on a free 127.0.0.1 port. Screenshots of key steps go to test-artifacts/e2e/<engine>/.

Without /usr/bin/chromium the browser tests fail under CI=true and are skipped (loudly)
elsewhere.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import CI, ENGINE, empty_database, loud

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent  # .venv/bin: gunicorn, flask, pybabel
ARTIFACTS = ROOT / "test-artifacts" / "e2e" / ENGINE
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

DEMO_PASSWORD = "comptoir-demo"
ASSOCIATE = "associate.par01@demo.comptoir.fr"
MANAGER = "manager.par01@demo.comptoir.fr"
ADMIN = "admin@demo.comptoir.fr"
CUSTOMER_SERVICE = "service@demo.comptoir.fr"
STORE = "PAR01"
API_SCOPES = ("orders:read", "orders:write", "stock:read", "stock:write")

_skipped_reasons: list[str] = []


# --------------------------------------------------------------------------- loud skips


def skip_or_fail(pytestconfig, reason: str, what: str = "BROWSER TESTS") -> None:
    """A missing tool fails the run under CI=true; elsewhere the test is skipped with a banner."""
    if CI:
        pytest.fail(f"{reason} (CI=true: missing tools are a failure, not a skip)", pytrace=False)
    message = f"{what} SKIPPED: {reason}"
    if message not in _skipped_reasons:
        _skipped_reasons.append(message)
        capture = pytestconfig.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            with capture.global_and_fixture_disabled():
                loud(message)
        else:
            loud(message)
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter):
    for message in _skipped_reasons:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(f"!! {message}", red=True, bold=True)
        terminalreporter.write_line(bar, red=True, bold=True)


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(
        {
            "FLASK_APP": "wsgi.py",
            "DATABASE_URL": url,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "e2e-" + "s" * 40,
            "COMPTOIR_ENV": "development",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _empty(url: str) -> None:
    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        empty_database()
        db.session.remove()
        db.engine.dispose()


def _run(cmd: list[str], env: dict, what: str, timeout: int = 300) -> str:
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result.stdout


def _wait_until_up(base: str, proc: subprocess.Popen, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(base + "/login", timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    print(f"--- gunicorn log ---\n{log}", file=sys.stderr)
    pytest.fail(f"gunicorn did not answer on {base} (exit code {proc.poll()}). Log:\n{log}", pytrace=False)


class LiveServer(str):
    """The base URL, which also knows its log file."""

    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def live_server(database_url, tmp_path_factory):
    started = time.monotonic()
    env = _server_env(database_url)
    _empty(database_url)
    demo = _run([str(VENV_BIN / "flask"), "demo", "load"], env, "flask demo load")
    print(demo)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env["PUBLIC_URL"] = base  # the links in customer e-mails lead back to this server
    log_path = tmp_path_factory.mktemp("server") / "gunicorn.log"
    with gunicorn(base, env, log_path, ["--workers", "2"]) as server:
        print(f"live server {base} ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
        yield server


@contextlib.contextmanager
def gunicorn(base: str, env: dict, log_path: Path, worker_args: list[str]):
    """Serve wsgi:app with gunicorn on base's port until the block ends; yields a LiveServer."""
    port = base.rsplit(":", 1)[1]
    if "--worker-class" not in worker_args:  # gunicorn.conf.py serves gthread; these servers use gunicorn's sync
        worker_args = [*worker_args, "--worker-class", "sync"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                *worker_args,
                *("--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--error-logfile", "-"),
                *("--graceful-timeout", "5", "wsgi:app"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(base)
    server.log_path = log_path
    try:
        _wait_until_up(base, proc, log_path)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def threaded_server(live_server, database_url, tmp_path_factory):
    """gunicorn as in production (2 gthread workers x 12 threads) on the demo database the live server loaded:
    requests really overlap in the database, where the sync live server would queue them."""
    env = {**_server_env(database_url), "RATELIMIT_ENABLED": "false"}
    log_path = tmp_path_factory.mktemp("threaded") / "gunicorn.log"
    threads = ["--workers", "2", "--worker-class", "gthread", "--threads", "12"]
    with gunicorn(f"http://127.0.0.1:{_free_port()}", env, log_path, threads) as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the end of the server log (tracebacks included) to the report."""
    report = yield
    servers = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, LiveServer)]
    for server in servers if report.failed else []:
        lines = [line for line in server.log().splitlines() if "GET /static/" not in line]
        report.sections.append((f"gunicorn log {server} (last 40 lines, no static files)", "\n".join(lines[-40:])))
    return report


@pytest.fixture(scope="session")
def base_url(live_server):
    """pytest-playwright's contexts resolve relative URLs against the live server."""
    return str(live_server)


@pytest.fixture(scope="session")
def db_engine(database_url):
    """Read-only look-ups in the tests (order references, GTINs), through the same database."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def query(db_engine, live_server):
    def run(sql: str, **params):
        with db_engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    return run


# --------------------------------------------------------------------------- API callers


def api_call(base: str, token: str, method: str, path: str, body=None, key: str | None = None, timeout: int = 120):
    """One JSON API call over HTTP: (status, parsed JSON body, or the start of the text when it is not JSON)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")[:300]


def make_api_tokens(n: int, scopes=API_SCOPES) -> list[str]:
    """n API clients made through the core operation, in the current application context; returns their tokens.

    The CLI costs a process start each, so load tests that need many callers make them this way.
    """
    import uuid

    from app.core.actor import Actor
    from app.core.integration import api_clients
    from app.extensions import db

    run = uuid.uuid4().hex[:8]
    made = [api_clients.create_api_client(f"e2e-{run}-{i}", list(scopes), actor=Actor.system("e2e")) for i in range(n)]
    db.session.commit()
    return [token for _, token in made]


def api_tokens(database_url: str, n: int, scopes=API_SCOPES) -> list[str]:
    """make_api_tokens from outside any application context."""
    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        tokens = make_api_tokens(n, scopes)
        db.session.remove()
        db.engine.dispose()
    return tokens


def flask_cli(database_url: str, *args: str) -> str:
    """`flask <args>` on this database, run in this process (a `flask` process start costs seconds, and the
    command's code is the same); fails the test when the command fails. Returns what it printed."""
    from app import create_app
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    result = app.test_cli_runner().invoke(args=list(args))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    assert result.exit_code == 0, f"flask {' '.join(args)} failed ({result.exit_code}):\n{result.output}"
    return result.stdout


def cli_api_client(database_url: str, name: str, scopes: str = ",".join(API_SCOPES)):
    """A new API client made as an operator would, with `flask api-client create`; returns its token."""
    return flask_cli(database_url, "api-client", "create", name, "--scopes", scopes).strip().splitlines()[-1]


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def chromium_available(pytestconfig):
    if not os.path.exists(CHROMIUM):
        skip_or_fail(pytestconfig, f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_available):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # A deterministic browser language: English until someone picks another one.
    return {**browser_context_args, "locale": "en-GB", "timezone_id": "Europe/Paris"}


# A keyboard-wedge scanner types a whole code in a few milliseconds. Playwright's keyboard sends one key per round
# trip, which a loaded CI machine can stretch past the app's 100 ms gap between a scanner's keys (the scan is then
# taken for a person typing and dropped). So the keys are sent from inside the page, one right after the other, to
# the same document keydown handler a scanner's keys reach.
WEDGE_JS = """(code) => {
    document.activeElement && document.activeElement.blur();
    delete document.body.dataset.lastScan;
    for (const key of [...code, "Enter"]) {
        document.dispatchEvent(new KeyboardEvent("keydown", {key, bubbles: true, cancelable: true}));
    }
}"""


def wedge(page, code: str) -> None:
    """Type a code the way a keyboard-wedge scanner does: fast keystrokes and Enter, focus on no field."""
    page.evaluate(WEDGE_JS, code)


def login(page, email: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the real form, like a person would."""
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def api_login(request_context, email: str, password: str = DEMO_PASSWORD):
    """POST the sign-in form with its CSRF token, as the browser would; returns the final response."""
    match = CSRF_RE.search(request_context.get("/login").text())
    assert match, "no CSRF token on /login"
    return request_context.post("/login", form={"email": email, "password": password, "csrf_token": match.group(1)})


@pytest.fixture(scope="session")
def auth_states(playwright, base_url, tmp_path_factory):
    """Storage state (session cookie) per demo login, each signed in once through the form.

    Plain HTTP (no browser), so the HTML validity test does not depend on Chromium.
    """
    folder = tmp_path_factory.mktemp("auth")
    cache: dict[str, str] = {}

    def state(email: str) -> str:
        if email not in cache:
            context = playwright.request.new_context(base_url=base_url)
            try:
                response = api_login(context, email)
                assert response.ok, f"{email} could not sign in: {response.status}"
                assert "/login" not in response.url, f"{email} was sent back to the sign-in page"
                path = folder / (re.sub(r"\W", "_", email) + ".json")
                context.storage_state(path=path)
            finally:
                context.dispose()
            cache[email] = str(path)
        return cache[email]

    return state


@pytest.fixture
def shot(request):
    """shot(page, "step") saves a full-page screenshot under test-artifacts/e2e/<engine>/<test>/."""
    name = request.node.name.replace("[chromium-", "[").replace("[chromium]", "")
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name).strip("_")
    shutil.rmtree(folder, ignore_errors=True)
    counter = iter(range(1, 1000))

    def take(page, step: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^\w.-]+", "_", step)
        path = folder / f"{next(counter):02d}-{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def pretty(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


@pytest.fixture(scope="session")
def scratch_dir():
    folder = Path(tempfile.mkdtemp(prefix="comptoir-e2e-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
