"""gunicorn as gunicorn.conf.py sets it up spreads a client's keep-alive connections over its workers.

With one listening socket shared by the workers, the worker that woke first accepted them: a reverse proxy's or a
web shop's handful of keep-alive connections could all land on one worker, which then served every request on one
core while the other idled. gunicorn.conf.py gives each worker its own socket (SO_REUSEPORT) and the kernel spreads
the connections (bench/README.md, issue 9). Sixteen connections opened at once all on one of two workers would
happen once in 32,768 runs if the spreading were even random.
"""

import re
import socket
import time

import pytest

from tests.e2e.conftest import _free_port, _server_env, gunicorn

pytestmark = pytest.mark.e2e

CONNECTIONS = 16


def _ask(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:  # the whole answer, so the next one on this connection starts clean
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


def test_connections_opened_at_once_are_spread_over_both_workers(live_server, database_url, tmp_path):
    env = _server_env(database_url)
    log_path = tmp_path / "gunicorn.log"
    args = ["--workers", "2", "--worker-class", "gthread", "--threads", "12", "--access-logformat", "pid=%(p)s %(r)s"]
    with gunicorn(f"http://127.0.0.1:{_free_port()}", env, log_path, args) as server:
        port = int(server.rsplit(":", 1)[1])
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(CONNECTIONS)]
        try:
            for i, sock in enumerate(sockets):
                assert _ask(sock, f"/healthz?connection={i}").startswith(b"HTTP/1.1 200")
            for i, sock in enumerate(sockets):  # the same connections again: each stays with its worker
                assert _ask(sock, f"/healthz?connection={i}").startswith(b"HTTP/1.1 200")
        finally:
            for sock in sockets:
                sock.close()
        deadline = time.monotonic() + 5
        served: dict[str, set] = {}
        while time.monotonic() < deadline:
            served = {}
            for pid, connection in re.findall(r"pid=<?(\d+)>? GET /healthz\?connection=(\d+)", server.log()):
                served.setdefault(connection, set()).add(pid)
            if len(served) == CONNECTIONS:
                break
            time.sleep(0.1)
    assert len(served) == CONNECTIONS, server.log()
    assert all(len(pids) == 1 for pids in served.values()), served  # a keep-alive connection stays with its worker
    workers = {pid for pids in served.values() for pid in pids}
    assert len(workers) == 2, f"all {CONNECTIONS} connections went to worker {workers}"
