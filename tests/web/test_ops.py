"""What an operator relies on: /readyz, `flask doctor`, /metrics and the request log line."""

import json
import logging
import os
import socket
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from app import create_app, metrics
from app.core.integration.api_clients import create_api_client
from app.core.ordering import orders, sourcing
from app.extensions import db
from app.observability import JsonFormatter
from tests.api.test_rate_limit_redis import redis_url  # noqa: F401 - a redis-server of its own, as a fixture
from tests.conftest import ENGINE, TEST_SETTINGS
from tests.factories import ACTOR, make_location, make_product, random_ref, ship_draft, stocked


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _own_app(database_url: str, **settings):
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, **TEST_SETTINGS, **settings})


# --------------------------------------------------------------------------- /readyz and flask doctor


def test_readyz_is_ready_at_the_migrations_head_and_not_when_the_schema_is_behind(app, client, runner):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"] != []
    assert "Set-Cookie" not in response.headers  # no session for a probe
    doctor = runner.invoke(args=["doctor"])
    assert doctor.exit_code == 0 and doctor.output.strip().endswith("ready"), doctor.output

    head = body["checks"]["migrations"]["head"][0]
    db.session.execute(text("UPDATE alembic_version SET version_num = 'e9a1f0c0de10'"))
    db.session.commit()
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["failing"] == ["migrations"]
        assert response.json["checks"]["migrations"]["current"] == ["e9a1f0c0de10"]
        doctor = runner.invoke(args=["doctor"])
        assert doctor.exit_code == 1
        assert "FAIL  migrations" in doctor.output and "NOT READY: migrations" in doctor.output
    finally:
        db.session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        db.session.commit()
    assert client.get("/readyz").status_code == 200


def test_probes_are_answered_over_plain_http_even_when_https_is_forced(database_url):
    app = _own_app(database_url, FORCE_HTTPS=True)
    with app.app_context():
        client = app.test_client()
        assert client.get("/stores/PAR01/queue").status_code == 302  # pages go to https
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
        db.engine.dispose()


def test_readyz_checks_each_configured_redis(database_url, redis_url):  # noqa: F811
    app = _own_app(database_url, RATELIMIT_STORAGE_URI=redis_url, AVAILABILITY_CACHE_URL=redis_url)
    with app.app_context():
        response = app.test_client().get("/readyz")
        assert response.status_code == 200, response.json
        assert set(response.json["checks"]) == {
            "database",
            "migrations",
            "redis (rate limits)",
            "redis (availability cache)",
        }
        db.engine.dispose()
    down = f"redis://127.0.0.1:{_closed_port()}"
    app = _own_app(database_url, RATELIMIT_STORAGE_URI=down)
    with app.app_context():
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.json["failing"] == ["redis (rate limits)"]
        assert "ConnectionError" in response.json["checks"]["redis (rate limits)"]["detail"]
        db.engine.dispose()


class TcpProxy:
    """A TCP relay in front of PostgreSQL that the test stops (every connection cut, the port refused) and starts
    again: the database, as the app sees it, goes down and comes back."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.port, self.listener, self.sockets = target, _closed_port(), None, []

    def start(self):
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (a bare close waits for it: Python)
        except OSError:
            pass
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.sockets = []


def test_readyz_fails_while_the_database_is_down_and_recovers_when_it_is_back(database_url, tmp_path):
    if ENGINE == "postgresql":
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
        proxy.start()
        app = _own_app(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
        stop, start = proxy.stop, proxy.start
    else:  # SQLite: the database file's folder goes away (no file can be opened) and comes back
        folder = tmp_path / "db"
        folder.mkdir()
        app = _own_app(f"sqlite:///{folder / 'gone.sqlite3'}")
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            db.engine.dispose()

        def stop():
            folder.rename(tmp_path / "moved")
            with app.app_context():
                db.engine.dispose()  # SQLite keeps open files readable: as a restarted server would, reconnect

        def start():
            (tmp_path / "moved").rename(folder)

    with app.app_context():
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["failing"] == ["database", "migrations"]
        assert response.json["checks"]["database"]["ok"] is False
        assert "OperationalError" in response.json["checks"]["database"]["detail"]
        assert app.test_cli_runner().invoke(args=["doctor"]).exit_code == 1
        start()
        response = client.get("/readyz")
        assert response.status_code == 200, response.json
        db.engine.dispose()
    if ENGINE == "postgresql":
        proxy.stop()


# --------------------------------------------------------------------------- the request line and its id


def _request_lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "app.request"]


def test_the_request_id_is_taken_when_sane_else_made_and_echoed(client, caplog):
    caplog.set_level(logging.INFO, logger="app.request")
    given = client.get("/healthz", headers={"X-Request-ID": "lb-1f2e3d4c:abc.def_0"})
    assert given.headers["X-Request-ID"] == "lb-1f2e3d4c:abc.def_0"
    for bad in ("has space", "x" * 129, "<script>", "é-accent", ""):
        answer = client.get("/healthz", headers={"X-Request-ID": bad})
        assert answer.headers["X-Request-ID"] != bad and len(answer.headers["X-Request-ID"]) == 32
    made = client.get("/healthz")
    assert len(made.headers["X-Request-ID"]) == 32
    lines = _request_lines(caplog)
    assert lines[0]["request_id"] == "lb-1f2e3d4c:abc.def_0"
    assert lines[-1]["request_id"] == made.headers["X-Request-ID"]
    assert lines[-1] | {"duration_ms": 0, "ts": ""} == {
        "ts": "",
        "level": "info",
        "logger": "app.request",
        "msg": "request",
        "request_id": made.headers["X-Request-ID"],
        "method": "GET",
        "route": "/healthz",
        "endpoint": "healthz",
        "status": 200,
        "duration_ms": 0,
    }


def test_the_request_line_names_the_route_store_user_and_client_but_no_personal_data_or_token(app, client, caplog):
    from tests.conftest import login
    from tests.factories import PASSWORD, make_user

    caplog.set_level(logging.INFO, logger="app.request")
    store = make_location(code="PAR01")
    user = make_user(stores=[store], email="lea.martin@example.fr", name="Léa Martin")
    _, token = create_api_client(random_ref("ops-"), ["orders:read"], actor=ACTOR)
    db.session.commit()

    login(client, "lea.martin@example.fr", "wrong-" + PASSWORD)
    login(client, "lea.martin@example.fr", PASSWORD)
    client.get("/stores/PAR01/queue?q=Martin")
    client.get("/api/v1/orders?q=lea.martin@example.fr", headers={"Authorization": f"Bearer {token}"})
    client.get("/api/v1/orders", headers={"Authorization": "Bearer cpt_not-a-real-token-0123456789"})

    lines = _request_lines(caplog)
    text_of_lines = "\n".join(json.dumps(line) for line in lines)
    for secret in ("lea.martin", "Martin", "Léa", token, "cpt_not-a-real", PASSWORD, "q="):
        assert secret not in text_of_lines
    queue = next(line for line in lines if line.get("route") == "/stores/<store_code>/queue")
    assert (queue["store"], queue["user_id"], queue["status"]) == ("PAR01", user.id, 200)
    api_lines = [line for line in lines if line.get("route") == "/api/v1/orders"]
    assert [line["status"] for line in api_lines] == [200, 401]
    assert api_lines[0]["api_client_id"] > 0 and "api_client_id" not in api_lines[1]
    assert {line["route"] for line in lines if line["method"] == "POST"} == {"/login"}


# --------------------------------------------------------------------------- /metrics


def _value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_need_the_token_or_an_allowed_address(app, client):
    assert client.get("/metrics").status_code == 200  # neither set: this machine only (development)
    far = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", environ_base=far).status_code == 401
    app.config["METRICS_TOKEN"] = "t" * 40
    assert client.get("/metrics").status_code == 401  # a token is set: no free pass for this machine
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}, environ_base=far).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 40}, environ_base=far)
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    app.config["METRICS_ALLOW_NETWORKS"] = metrics._allowed_networks("203.0.113.0/24, 10.0.0.1")
    assert client.get("/metrics", environ_base=far).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "198.51.100.1"}).status_code == 401
    app.config["METRICS_ENABLED"] = False
    assert client.get("/metrics", environ_base=far).status_code == 404


def test_metrics_count_committed_events_and_time_requests_by_route_template(app, client):
    store = make_location(code="MET01", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    product = stocked(store, make_product(), 5)
    db.session.commit()
    orders_before = _value("comptoir_orders_captured_total", method="ship")
    full_before = _value("comptoir_sourcing_decisions_total", trigger="new_order", outcome="full")

    draft = ship_draft((product, 1))
    draft.ship_to.update(latitude=Decimal("48.86"), longitude=Decimal("2.34"))
    order, _ = orders.create_order(draft, actor=ACTOR)
    sourcing.source_order(order, actor=ACTOR)
    db.session.rollback()  # rolled back: nothing happened, nothing counted
    assert _value("comptoir_orders_captured_total", method="ship") == orders_before

    order, _ = orders.create_order(draft, actor=ACTOR)
    sourcing.source_order(order, actor=ACTOR)
    db.session.commit()
    assert _value("comptoir_orders_captured_total", method="ship") == orders_before + 1
    assert _value("comptoir_sourcing_decisions_total", trigger="new_order", outcome="full") == full_before + 1
    orders.create_order(draft, actor=ACTOR)  # the same order again is no new order
    db.session.commit()
    assert _value("comptoir_orders_captured_total", method="ship") == orders_before + 1

    fulfilment = order.fulfilments[0]
    rejected_before = _value("comptoir_rejections_total", scope="fulfilment", reason="too_busy")
    sourcing.reject_lines(fulfilment, {fulfilment.lines[0]: 1}, "too_busy", "", ACTOR)
    db.session.commit()
    assert _value("comptoir_rejections_total", scope="fulfilment", reason="too_busy") == rejected_before + 1

    client.get(f"/api/v1/orders/{order.id}")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'comptoir_http_request_duration_seconds_count{method="GET",route="/api/v1/orders/<int:order_id>"' in body
    assert f"/api/v1/orders/{order.id}" not in body  # the route template, never the raw path
    assert 'comptoir_queue_size{queue="email"}' in body
    assert 'comptoir_outbox_lag_seconds{queue="events"}' in body
    assert "comptoir_webhook_dead_letters" in body
    assert "comptoir_db_connections_in_use" in body
    assert "comptoir_queues_read 1.0" in body


# --------------------------------------------------------------------------- production refuses unsafe settings


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({}, None),
        ({"METRICS_TOKEN": None}, None),
        ({"METRICS_ENABLED": "false", "METRICS_TOKEN": None, "METRICS_ALLOW": None}, None),
        ({"METRICS_TOKEN": None, "METRICS_ALLOW": None}, "/metrics needs METRICS_TOKEN or METRICS_ALLOW"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN must be at least 32 characters"),
        ({"FLASK_DEBUG": "1"}, "DEBUG must be off"),
        ({"GUNICORN_WORKERS": "4", "RATELIMIT_STORAGE_URI": None}, "RATELIMIT_STORAGE_URI must point to a shared"),
        ({"DATABASE_URL": "sqlite:////tmp/comptoir-prod.sqlite3", "GUNICORN_WORKERS": "3"}, "SQLite serves one"),
        ({"DATABASE_URL": "sqlite:////tmp/comptoir-prod.sqlite3", "GUNICORN_WORKERS": None}, "SQLite serves one"),
        ({"METRICS_ALLOW": "10.0.0.0/33"}, "METRICS_ALLOW takes addresses or networks"),
    ],
)
def test_production_refuses_unsafe_operations_settings(monkeypatch, database_url, changes, refused):
    from app.config import ConfigError

    safe = {
        "COMPTOIR_ENV": "production",
        "SECRET_KEY": "s" * 48,
        "DATABASE_URL": database_url,
        "PUBLIC_URL": "https://comptoir.example.com",
        "METRICS_TOKEN": "m" * 40,
        "METRICS_ALLOW": "10.0.0.0/8",
        "GUNICORN_WORKERS": "1",
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
    }
    for name, value in {**safe, **changes}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    from app.config import check_production, load_config

    if refused is None:
        check_production(load_config("/tmp/comptoir-ops-instance"))
        return
    with pytest.raises(ConfigError) as caught:
        check_production(load_config("/tmp/comptoir-ops-instance"))
    assert refused in str(caught.value)


# --------------------------------------------------------------------------- the deployment files

ROOT = Path(__file__).resolve().parents[2]


def test_the_compose_stack_migrates_once_before_two_app_servers_and_two_workers_start():
    """No container engine here (docs/OPERATIONS.md): the files are checked for what the issue asks of them."""
    import re

    import yaml

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["flask", "db", "upgrade"] and services["migrate"]["restart"] == "no"
    apps = [name for name, s in services.items() if "command" not in s and s.get("build") == "."]
    workers = [name for name, s in services.items() if s.get("command") == ["flask", "worker"]]
    assert sorted(apps) == ["app1", "app2"] and sorted(workers) == ["worker1", "worker2"]
    for name in apps + workers:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["environment"]["COMPTOIR_ENV"] == "production"
        assert "redis://" in services[name]["environment"]["RATELIMIT_STORAGE_URI"]
    for name in apps:
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
    # Settings only from the environment: every secret is a required variable, none is written in the file.
    environment = services["app1"]["environment"]
    for secret in ("SECRET_KEY", "METRICS_TOKEN"):
        assert re.fullmatch(r"\$\{" + secret + r":\?.+\}", environment[secret])
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server app1:8000" in nginx and "server app2:8000" in nginx
    assert services["proxy"]["volumes"] == ["./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]

    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM .* AS (\w+)$", dockerfile, re.MULTILINE)
    assert stages == ["builder", "runtime"]
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "build-essential" not in runtime and "apt-get install" not in runtime  # no compiler at run time
    assert re.search(r"^USER comptoir$", runtime, re.MULTILINE) and "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert "pybabel compile" in dockerfile and "COPY --from=builder" in runtime
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]' in runtime
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "node_modules", "tests", ".git", "instance"} <= set(ignored)


def test_gunicorn_conf_reads_its_settings_from_the_environment(monkeypatch):
    import runpy

    monkeypatch.setenv("GUNICORN_WORKERS", "7")
    monkeypatch.setenv("GUNICORN_BIND", "0.0.0.0:9000")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/comptoir-metrics-test")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (settings["workers"], settings["bind"], settings["worker_class"], settings["threads"]) == (
        7,
        "0.0.0.0:9000",
        "gthread",
        12,
    )
    assert settings["accesslog"] is None and settings["limit_request_line"] == 8190
    monkeypatch.delenv("GUNICORN_WORKERS")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"] == 2

    # Reading the file changes nothing; gunicorn's master, starting, gives its workers a metrics folder of its own
    # (emptied of an earlier run's files), and removes it when it exits.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    settings["on_starting"](None)
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert folder.is_dir() and not list(folder.iterdir())
    settings["on_exit"](None)
    assert not folder.exists()


def _receiver_of_request_ids():
    """A webhook receiver on a free port that answers 204 and keeps each call's X-Request-ID: (server, received).
    The caller shuts it down."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append(self.headers["X-Request-ID"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def test_each_worker_job_logs_under_its_own_id_and_a_webhook_call_carries_it_and_is_counted(app, caplog):
    from app.core.integration import worker
    from app.core.models import WebhookSubscription
    from tests.core.test_worker import SECRET, _orders

    server, received = _receiver_of_request_ids()
    try:
        db.session.add(
            WebhookSubscription(
                url=f"http://127.0.0.1:{server.server_port}/hook", secret=SECRET, event_types="order.created"
            )
        )
        _orders(2)
        delivered_before = _value("comptoir_webhook_deliveries_total", outcome="delivered")
        caplog.set_level(logging.INFO, logger="app.core.integration.worker")
        assert worker.run_once()["delivered"] == 2
    finally:
        server.shutdown()
        server.server_close()
    assert _value("comptoir_webhook_deliveries_total", outcome="delivered") == delivered_before + 2
    formatter = JsonFormatter()
    jobs = [json.loads(formatter.format(r)) for r in caplog.records if r.getMessage() == "job"]
    deliveries = [line for line in jobs if line["job"].startswith("deliver ")]
    assert [line["result"] for line in deliveries] == ["delivered", "delivered"]
    assert all(line["request_id"].startswith("job-") for line in jobs)
    assert len({line["request_id"] for line in jobs}) == len(jobs)  # one id per job
    assert sorted(received) == sorted(line["request_id"] for line in deliveries)  # sent on with the call


def test_the_request_that_wrote_an_event_or_a_payment_step_is_carried_into_the_worker_job(app, client, caplog):
    """A web shop's request id reaches the webhook its order causes (X-Request-ID) and the worker's job log line
    (origin_request_id), as does the payment step it decided."""
    from app.core.integration import worker
    from app.core.models import OutboxEvent, PaymentTransaction, WebhookSubscription
    from tests.api.test_orders_api import BODY
    from tests.core.test_worker import SECRET

    server, received = _receiver_of_request_ids()
    try:
        make_product(sku="TSH-001-M", gtin="4006381333931")
        _, token = create_api_client("webshop", ["orders:read", "orders:write"], actor=ACTOR)
        db.session.add(
            WebhookSubscription(
                url=f"http://127.0.0.1:{server.server_port}/hook", secret=SECRET, event_types="order.created"
            )
        )
        db.session.commit()
        answer = client.post(
            "/api/v1/orders",
            json=BODY,
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "shop-7f3a-0001"},
        )
        assert answer.status_code == 201 and answer.headers["X-Request-ID"] == "shop-7f3a-0001"
        event = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "order.created")).one()
        authorisation = db.session.scalars(select(PaymentTransaction)).one()
        assert (event.request_id, authorisation.request_id) == ("shop-7f3a-0001", "shop-7f3a-0001")
        caplog.set_level(logging.INFO, logger="app.core.integration.worker")
        assert worker.run_once(figures=False)["delivered"] == 1
    finally:
        server.shutdown()
        server.server_close()
    assert received == ["shop-7f3a-0001"]
    formatter = JsonFormatter()
    jobs = [json.loads(formatter.format(r)) for r in caplog.records if r.getMessage() == "job"]
    (delivery,) = [line for line in jobs if line["job"].startswith("deliver ")]
    assert delivery["origin_request_id"] == "shop-7f3a-0001" and delivery["request_id"].startswith("job-")
    assert all("origin_request_id" not in line for line in jobs if line is not delivery)
