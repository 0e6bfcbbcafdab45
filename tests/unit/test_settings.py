"""Settings: contract defaults, validation naming the variable, the secret file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rooms_ws.secret import MissingSecret, jwt_secret
from rooms_ws.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ROOMS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_contract_defaults() -> None:
    s = load_settings()
    assert s.database_url is None and s.redis_url is None
    assert s.data_dir == Path("./.rooms-data")
    assert s.jwt_secret is None
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.allowed_origins is None
    assert s.effective_allowed_origins == ("http://localhost:*", "http://127.0.0.1:*")
    assert s.max_message_bytes == 65536
    assert (s.rate_per_second, s.rate_burst) == (20, 40)
    assert s.max_connections_per_user == 8
    assert s.max_connections == 10000
    assert s.metrics_port is None


def test_external_database_allows_no_origin_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOMS_DATABASE_URL", "postgresql://db/rooms")
    assert load_settings().effective_allowed_origins == ()


def test_origins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOMS_ALLOWED_ORIGINS", "https://a.example, http://localhost:*")
    assert load_settings().allowed_origins == ("https://a.example", "http://localhost:*")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROOMS_PORT", "eighty"),
        ("ROOMS_PORT", "70000"),
        ("ROOMS_MAX_MESSAGE_BYTES", "0"),
        ("ROOMS_RATE_PER_SECOND", "-1"),
        ("ROOMS_RATE_BURST", "0"),
        ("ROOMS_MAX_CONNECTIONS_PER_USER", "0"),
        ("ROOMS_MAX_CONNECTIONS", "x"),
        ("ROOMS_METRICS_PORT", "0"),
        ("ROOMS_ALLOWED_ORIGINS", "not an origin"),
        ("ROOMS_DATABASE_URL", "mysql://x"),
        ("ROOMS_REDIS_URL", "http://x"),
        ("ROOMS_JWT_SECRET", "   "),
    ],
)
def test_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_the_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOMS_JWT_SECRET", " \t ")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "got" not in str(caught.value)


def test_dotenv_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ROOMS_PORT=9001\n")
    assert load_settings().port == 9001


def test_embedded_secret_is_generated_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = jwt_secret(settings)
    assert len(first) >= 32
    assert jwt_secret(settings) == first
    assert (tmp_path / "data" / "jwt-secret").stat().st_mode & 0o077 == 0


def test_external_database_needs_a_secret() -> None:
    with pytest.raises(MissingSecret, match="ROOMS_JWT_SECRET"):
        jwt_secret(Settings(database_url="postgresql://db/rooms"))
    given = Settings(database_url="postgresql://db/rooms", jwt_secret="s" * 40)
    assert jwt_secret(given) == "s" * 40


def test_create_budget_and_jwt_leeway_defaults() -> None:
    s = load_settings()
    assert s.user_creates_per_minute == 30
    assert s.jwt_leeway_seconds == 30


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROOMS_USER_CREATES_PER_MINUTE", "0"),
        ("ROOMS_USER_CREATES_PER_MINUTE", "many"),
        ("ROOMS_JWT_LEEWAY_SECONDS", "-1"),
        ("ROOMS_JWT_LEEWAY_SECONDS", "1e400"),
    ],
)
def test_budget_and_leeway_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_a_missing_embedded_secret_is_not_invented_on_request(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "elsewhere")
    with pytest.raises(MissingSecret, match="ROOMS_DATA_DIR") as refused:
        jwt_secret(settings, create=False)
    assert str(tmp_path / "elsewhere" / "jwt-secret") in str(refused.value)
    assert not (tmp_path / "elsewhere").exists()
    made = jwt_secret(settings)  # as serve does
    assert jwt_secret(settings, create=False) == made
