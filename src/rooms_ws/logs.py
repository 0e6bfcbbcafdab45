"""Logging: JSON lines on stderr, and no credential or payload ever, at any level.

uvicorn writes the request path *with* its query string in its WebSocket
lines ("WebSocket /ws?access_token=..." [accepted]); one filter cuts every
query string out of every record's arguments before any handler sees it.

At debug level the WebSocket library traces the handshake header by header,
``Authorization: Bearer <token>`` included, and every frame with the start
and end of its payload; another filter blanks those values and frame
payloads. Both sit on the handler, so they hold for every logger, whatever
its name or level.
"""

from __future__ import annotations

import json
import logging
import re
import time
from itertools import islice
from typing import Any, TextIO

import orjson

_QUERY = re.compile(r"\?\S*")

# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
# How many attributes LogRecord.__init__ sets, always the same ones, first.
_OWN_ATTRIBUTES = len(logging.makeLogRecord({}).__dict__)


class RedactQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _QUERY.sub("", arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        if isinstance(record.msg, str) and "access_token=" in record.msg:
            record.msg = _QUERY.sub("", record.msg)
        return True


# A value that may be a credential: a bearer token, or anything shaped like a JWT.
# (RFC 6750's b64token; not an auth-param such as error="..." of a challenge.)
_BEARER = re.compile(r'(?i)\bbearer\s+(?![\w-]+=")[\w\-.~+/]+=*')
_JWT = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
REDACTED = "[redacted]"


def _scrub_text(text: str) -> str:
    if "eyJ" in text or "earer" in text or "EARER" in text:
        return _JWT.sub(REDACTED, _BEARER.sub("Bearer " + REDACTED, text))
    return text


def _scrub(arg: object) -> object:
    if isinstance(arg, str):
        return _scrub_text(arg)
    opcode = getattr(arg, "opcode", None)
    data = getattr(arg, "data", None)
    if opcode is not None and isinstance(data, bytes | bytearray | memoryview):
        # A websockets Frame, whose str() shows its payload: what a client
        # sent is its business, not the log's; its kind and size are enough.
        return f"{getattr(opcode, 'name', opcode)} [{len(data)} bytes]"
    return arg


class RedactCredentials(logging.Filter):
    """Header values that carry credentials, bearer tokens and frame payloads, blanked.

    The library's header lines are ``"< %s: %s" % (name, value)``; a name in
    :data:`_SECRET_HEADERS` loses its value whatever it looks like (a token
    that is not a JWT is still a credential).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            if len(args) == 2 and isinstance(args[0], str) and args[0].lower() in _SECRET_HEADERS:
                record.args = (args[0], REDACTED)
            else:
                record.args = tuple(_scrub(arg) for arg in args)
        if isinstance(record.msg, str):
            record.msg = _scrub_text(record.msg)
        return True


class DropDenialNoise(logging.Filter):
    """uvicorn logs an error after every handshake refused with a denial response.

    It takes the refusal for an app that forgot to accept ("returned without
    completing handshake"); ``/ws`` always accepts or refuses on purpose and
    logs the refusal itself, so the line would only be noise at ERROR level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "uvicorn.error"
            and record.msg == "ASGI callable returned without completing handshake."
        )


class DropDuplicateConnectionLines(logging.Filter):
    """uvicorn and websockets each log every handshake, accepted or refused.

    ``rooms_ws.connections`` writes one line per connection opened, closed or
    refused, with the user, the close code or the status and the reason; the
    two stock lines per handshake only double the volume of a connect storm
    (and carry the raw path, query string included, for the redaction to
    catch). Their message templates, as the libraries spell them:
    """

    _TEMPLATES = frozenset(
        {
            '%s - "WebSocket %s" [accepted]',
            '%s - "WebSocket %s" 403',
            '%s - "WebSocket %s" %d',
            "connection open",
            "connection closed",
            "connection rejected (%d %s)",
            "HTTP response sent (%d %s)",
        }
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "uvicorn.error" and record.msg in self._TEMPLATES)


def _default(value: object) -> str:
    return str(value)


_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS
_LEVEL_NAMES = {name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, serialised with orjson.

    The timestamp's seconds part is formatted once per second, not per record.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._second = -1
        self._stamp = ""

    def _timestamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": _LEVEL_NAMES.get(record.levelname) or record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        attributes = record.__dict__
        # A record's own attributes come first, in the order its __init__ set
        # them: only what follows (extra=, or set later) needs looking at.
        for key in islice(attributes, _OWN_ATTRIBUTES, None):
            if key not in _STANDARD and key[0] != "_":
                entry[key] = attributes[key]
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=_default, option=_JSON_OPTIONS).decode()
        except TypeError:
            # What orjson refuses (integers beyond 64 bits, say): the stdlib's way.
            return json.dumps(entry, default=str, ensure_ascii=False)


def lean_records() -> None:
    """Stop every record from collecting what no line of ours shows.

    By default each record walks the stack for its caller's file and line
    (``sys._getframe``) and reads the thread, the process id and the
    multiprocessing name: a third of a request line's cost, for fields that
    neither format writes. These are the switches the ``logging`` HOWTO
    ("Optimization") names for it.
    """
    logging._srcfile = None  # documented in the HOWTO, though underscored
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def stderr_handler(stream: TextIO) -> logging.Handler:
    """The server's one handler (see :func:`log_config`), records made lean first."""
    # Here, not at import: dictConfig builds the handler in every process
    # (workers included), and only a server's process should change globals.
    lean_records()
    return logging.StreamHandler(stream)


def log_config(
    level: str = "info", fmt: str = "json", requests_level: str | None = None
) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server, its workers and uvicorn.

    ``requests_level`` is the floor of the request lines (``rooms_ws.requests``,
    written at info), when it differs from ``level``: ``warning`` turns them off.
    """
    loggers: dict[str, Any] = {
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True},
        # Access lines are ours (rooms_ws.connections): uvicorn's carry the query string.
        "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
    }
    if requests_level is not None:
        loggers["rooms_ws.requests"] = {"level": requests_level.upper()}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact": {"()": "rooms_ws.logs.RedactQueryStrings"},
            "credentials": {"()": "rooms_ws.logs.RedactCredentials"},
            "denials": {"()": "rooms_ws.logs.DropDenialNoise"},
            "duplicates": {"()": "rooms_ws.logs.DropDuplicateConnectionLines"},
        },
        "formatters": {
            "json": {"()": "rooms_ws.logs.JsonFormatter"},
            "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        },
        "handlers": {
            "stderr": {
                "()": "rooms_ws.logs.stderr_handler",
                "stream": "ext://sys.stderr",
                "formatter": fmt,
                "filters": ["redact", "credentials", "denials", "duplicates"],
            }
        },
        "loggers": loggers,
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }
