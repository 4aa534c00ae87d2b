"""Smoke test of a running Comptoir, from outside: `python deploy/smoke.py https://comptoir.example.com`.

What a deployment must answer before it takes traffic: /healthz and /readyz (200, ready), the sign-in page, an
X-Request-ID echoed, and /metrics refused without the token (and served with it when METRICS_TOKEN is in the
environment, for an app server reached directly). Exits 1 with the first failure. Standard library only, so it runs
from any machine (CI runs it against processes started directly when it cannot run containers:
tests/e2e/test_two_servers.py).
"""

import json
import os
import sys
import urllib.error
import urllib.request


def get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - an operator's own address
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def smoke(base: str, metrics_token: str = "") -> list[str]:
    """The checks that passed, as sentences; raises AssertionError at the first that fails."""
    base, passed = base.rstrip("/"), []
    status, _, body = get(base + "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}, f"/healthz answered {status}: {body[:200]!r}"
    passed.append("/healthz: alive")
    status, _, body = get(base + "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready", f"/readyz answered {status}: {body[:300]!r}"
    passed.append("/readyz: " + ", ".join(sorted(json.loads(body)["checks"])))
    status, headers, body = get(base + "/login", {"X-Request-ID": "smoke-test-0001"})
    assert status == 200 and b"csrf_token" in body, f"/login answered {status}"
    assert headers.get("X-Request-ID") == "smoke-test-0001", f"X-Request-ID not echoed: {headers.get('X-Request-ID')}"
    passed.append("/login: the sign-in form, X-Request-ID echoed")
    status, _, _ = get(base + "/metrics", {"Authorization": "Bearer not-the-token"})
    assert status in {401, 404}, f"/metrics answered {status} to a wrong token"
    passed.append(f"/metrics: refused without the token ({status})")
    if metrics_token:
        status, _, body = get(base + "/metrics", {"Authorization": f"Bearer {metrics_token}"})
        assert status == 200 and b"comptoir_http_request_duration_seconds" in body, f"/metrics answered {status}"
        passed.append("/metrics: served with the token")
    return passed


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    try:
        for line in smoke(sys.argv[1], os.environ.get("METRICS_TOKEN", "")):
            print("ok  ", line)
    except (AssertionError, OSError, ValueError) as failure:
        print("FAIL", failure)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
