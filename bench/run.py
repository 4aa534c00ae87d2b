"""Load benchmark: pages of a demo store against the trivial /healthz endpoint, same server, same run.

Usage: python bench/run.py [--database-url URL] [--seconds 10] [--connections 10]
Starts gunicorn (2 sync workers) on 127.0.0.1, loads the demo if needed, signs in as the PAR01
associate, and drives each endpoint with wrk (loopback only, bounded in time). Reports requests/s,
p50 and p99 latency, and each figure as a ratio to /healthz.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign_in(base: str, email: str = "associate.par01@demo.comptoir.fr") -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"email": email, "password": "comptoir-demo", "csrf_token": token}).encode()
    opener.open(base + "/login", data=data)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def wrk(url: str, cookie: str, seconds: int, connections: int, headers=()) -> dict:
    """wrk against one URL with the session cookie (none when empty) and any other headers ("Name: value")."""
    extra = [arg for header in ([f"Cookie: {cookie}"] if cookie else []) + list(headers) for arg in ("-H", header)]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout

    def ms(label):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", f"sqlite:///{ROOT}/instance/bench.sqlite3")
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    env = {**os.environ, "DATABASE_URL": args.database_url, "FLASK_APP": "wsgi.py", "RATELIMIT_ENABLED": "false"}
    subprocess.run([BIN / "flask", "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([BIN / "flask", "demo", "load", "--if-empty"], env=env, cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [BIN / "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        cookie = sign_in(base)
        paths = ["/healthz", "/login", "/stores/PAR01/queue", "/stores/PAR01/stock?q=pull"]
        results = {path: wrk(base + path, cookie, args.seconds, args.connections) for path in paths}
    finally:
        server.terminate()
        server.wait(timeout=10)
    trivial = results["/healthz"]
    print(f"database: {args.database_url.split('@')[-1]}, {args.connections} connections, {args.seconds}s each")
    print(
        f"{'endpoint':32} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'rps ratio':>10} {'p99 ratio':>10} {'non-2xx':>8}"
    )
    for path, r in results.items():
        print(
            f"{path:32} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} "
            f"{r['rps'] / trivial['rps']:10.2f} {r['p99'] / trivial['p99']:10.2f} {r['errors']:8d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
