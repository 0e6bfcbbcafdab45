"""The server's log configuration: lean records, and the request lines' own floor."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from rooms_ws.logs import JsonFormatter, log_config
from rooms_ws.settings import Settings

_SWITCHES = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Apply a log_config writing to a buffer; the logging state is restored after."""
    for name in _SWITCHES:
        monkeypatch.setattr(logging, name, getattr(logging, name))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    touched = [logging.getLogger(name) for name in ("rooms_ws.requests", "rooms_ws.session")]
    levels = [logger.level for logger in touched]
    stream = io.StringIO()

    def apply(**options: Any) -> io.StringIO:
        config = log_config(**options)
        config["handlers"]["stderr"]["stream"] = stream
        logging.config.dictConfig(config)
        return stream

    yield apply
    root.handlers[:], root.level = saved
    for logger, level in zip(touched, levels, strict=True):
        logger.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def _log_both() -> None:
    logging.getLogger("rooms_ws.requests").info("request", extra={"outcome": "x"})
    logging.getLogger("rooms_ws.session").info("other")


def test_request_lines_follow_the_log_level_by_default(configure: Any) -> None:
    stream = configure(level="info")
    _log_both()
    assert [line["logger"] for line in _lines(stream)] == ["rooms_ws.requests", "rooms_ws.session"]
    assert _lines(stream)[0]["outcome"] == "x"


def test_a_request_log_level_above_info_drops_the_request_lines_only(configure: Any) -> None:
    stream = configure(level="info", requests_level="warning")
    _log_both()
    assert [line["logger"] for line in _lines(stream)] == ["rooms_ws.session"]


def test_a_request_log_level_of_info_keeps_them_under_a_higher_floor(configure: Any) -> None:
    stream = configure(level="warning", requests_level="info")
    _log_both()
    assert [line["logger"] for line in _lines(stream)] == ["rooms_ws.requests"]


def test_the_servers_records_carry_no_caller_thread_or_process(configure: Any) -> None:
    configure()
    record = logging.getLogger("rooms_ws.requests").makeRecord(
        "rooms_ws.requests", logging.INFO, "", 0, "request", (), None
    )
    assert (record.thread, record.process, record.processName) == (None, None, None)
    assert logging._srcfile is None  # type: ignore[attr-defined]  # no stack walk per line


def test_the_setting_is_unset_by_default_and_checked() -> None:
    assert Settings.model_fields["request_log_level"].default is None
    assert Settings(request_log_level="WARNING").request_log_level == "WARNING"
    with pytest.raises(ValueError, match="request_log_level"):
        Settings(request_log_level="loud")


def test_a_json_line_holds_the_extras_and_none_of_the_records_internals() -> None:
    record = logging.getLogger("rooms_ws.requests").makeRecord(
        "rooms_ws.requests",
        logging.WARNING,
        "",
        0,
        "request %s",
        ("x",),
        None,
        extra={"outcome": "ok", "duration_ms": 1.5, "_hidden": 1},
    )
    record.message = "set by another handler's formatter"
    line = orjson.loads(JsonFormatter().format(record))
    assert line.pop("ts").endswith("Z")
    assert line == {
        "level": "warning",
        "logger": "rooms_ws.requests",
        "msg": "request x",
        "outcome": "ok",
        "duration_ms": 1.5,
    }
