"""A backup is only one once it has been restored: pg_dump the running demo database (custom format, as
docs/OPERATIONS.md says), pg_restore it into a fresh database, and `flask doctor` and `flask check` pass there.
PostgreSQL only; pg_dump and pg_restore missing fail under CI=true and skip loudly elsewhere."""

import shutil
import subprocess
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import ENGINE
from tests.e2e.conftest import ROOT, VENV_BIN, _server_env, skip_or_fail

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        ENGINE != "postgresql", reason="pg_dump and pg_restore back up PostgreSQL: TEST_DATABASE=postgresql"
    ),
]


def _libpq(url) -> list[str]:
    args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    return args


def test_a_dump_restored_into_a_fresh_database_passes_the_ledger_check(
    live_server, database_url, tmp_path, pytestconfig
):
    for tool in ("pg_dump", "pg_restore"):
        if not shutil.which(tool):
            skip_or_fail(pytestconfig, f"{tool} is missing (apt-get install -y postgresql-client)", "BACKUP TEST")
    url = make_url(database_url)
    env = {"PGPASSWORD": url.password or "", "PATH": "/usr/bin:/bin"}
    dump = tmp_path / "comptoir.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", *_libpq(url), "-f", str(dump), url.database],
        check=True,
        env=env,
        timeout=300,
    )
    fresh = f"comptoir_restore_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{fresh}"'))
    restored = url.set(database=fresh).render_as_string(hide_password=False)
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", *_libpq(url), "-d", fresh, str(dump)],
            check=True,
            env=env,
            timeout=300,
        )
        engine = create_engine(restored)
        with engine.connect() as connection:
            counts = [
                connection.scalar(text(f"SELECT count(*) FROM {table}"))
                for table in ("stock_level", "stock_movement", "customer_order", "payment_transaction")
            ]
        engine.dispose()
        assert all(counts), counts  # the demo's rows came back

        cli_env = {**_server_env(restored), "DATABASE_URL": restored}
        for command, expected in ((["doctor"], "ready"), (["check"], "5 of 5 invariants hold.")):
            result = subprocess.run(
                [str(VENV_BIN / "flask"), *command],
                cwd=ROOT,
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.strip().splitlines()[-1] == expected, result.stdout
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)'))
        admin.dispose()
