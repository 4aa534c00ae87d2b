"""gunicorn's settings (`gunicorn -c gunicorn.conf.py wsgi:app`; gunicorn also reads this file by itself from the
directory it starts in). Every value can be changed from the environment, so the image and `make run` share it.

| variable | default | |
|---|---|---|
| GUNICORN_BIND | 127.0.0.1:8000 | address:port (0.0.0.0:8000 in the image) |
| GUNICORN_WORKERS | 2 | processes; about 2 per core. Anything but 1 counts as several processes for COMPTOIR_ENV=production |
| GUNICORN_THREADS | 12 | threads per process (gthread): requests mostly wait on PostgreSQL |
| GUNICORN_WORKER_CLASS | gthread | |
| GUNICORN_TIMEOUT | 60 | seconds a worker may stay silent before it is restarted (a batch label print takes a few) |
| GUNICORN_GRACEFUL_TIMEOUT | 30 | seconds given to requests under way on a restart or a stop (SIGTERM) |
| GUNICORN_KEEPALIVE | 5 | seconds a keep-alive connection from the reverse proxy waits for its next request |
| GUNICORN_MAX_REQUESTS | 0 | restart a worker after this many requests (0: never), with up to 10% jitter |
| GUNICORN_REUSE_PORT | 1 | each worker its own listening socket (SO_REUSEPORT), connections spread by the kernel; 0: one shared socket |
| GUNICORN_GC_FREEZE | 1 | after loading the app, gc.freeze() in each worker; 0: off |
| GUNICORN_ACCESS_LOG | (off) | a file or "-" for gunicorn's own access log; off by default: the app writes one JSON line per request |
| GUNICORN_FORWARDED_ALLOW_IPS | 127.0.0.1 | proxies whose X-Forwarded-Proto gunicorn trusts (the app's PROXY_COUNT does the rest) |
| PROMETHEUS_MULTIPROC_DIR | a new temporary folder | where the workers' metrics meet (app.metrics); emptied at start |

gunicorn answers a request line over 4094 bytes itself, with a bare English "Request Line is too large" page, before
the app can say anything. 8190 (its largest) lets a long search (a pasted text of 5,000 characters) reach the app,
which cuts the search and answers in the reader's language; what is longer still is no browser's doing.
"""

import os
import shutil
import tempfile
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = (os.environ.get(name) or "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"
workers = _int("GUNICORN_WORKERS", 2)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "gthread"
threads = _int("GUNICORN_THREADS", 12)
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = (os.environ.get("GUNICORN_LOG_LEVEL") or "info").lower()
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS") or "127.0.0.1"
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections over them. With one
# shared socket, whichever worker woke first accepted: a reverse proxy's or a client's handful of keep-alive
# connections often all landed on one worker, which then served them on one core while the other worker idled
# (order capture over 10 keep-alive connections: one worker at 100 % CPU, the other idle, 22-23 orders/s; spread over
# both: 32-37 orders/s, bench/README.md).
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "1") != "0"
limit_request_line = 8190
limit_request_field_size = 8190

_own_metrics_dir: list[str] = []


def on_starting(server):
    """The workers' metrics meet in one folder (prometheus_client's multi-process mode): set in the master before
    any worker imports the app (no preload_app), so every worker inherits it; a temporary folder of our own when
    none is given. Emptied: what a previous run counted is not this run's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="comptoir-metrics-")
        _own_metrics_dir.append(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    """A worker that ended takes its live gauges (connections in use) with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for folder in _own_metrics_dir:
        shutil.rmtree(folder, ignore_errors=True)


def post_worker_init(worker):
    """Once the app is loaded: its modules, templates and caches are moved out of the garbage collector's sight
    (gc.freeze), so the collections that every request's short-lived objects set off no longer walk them."""
    import gc

    if os.environ.get("GUNICORN_GC_FREEZE", "1") != "0":
        gc.collect()
        gc.freeze()
