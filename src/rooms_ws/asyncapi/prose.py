"""What the AsyncAPI document says in words: data only, no logic.

Keyed by what each text describes (an error code, a close code, a payload
field), so the tests can check the keys against the code. ``docs/protocol.md``
says the same at more length; ``tests/unit/test_protocol_doc.py`` checks that
its tables list the same codes, with the same ``when`` text per error code.
"""

from __future__ import annotations

from rooms_domain.model import MAX_RULESET_CONFIG_BYTES
from rooms_ws.errors import CloseCode, ErrorCode

TITLE = "rooms"

SUMMARY = (
    "Private rooms for a 2-4 player game over one WebSocket per client.\n"
    "\n"
    "Every frame is a UTF-8 text frame holding one JSON object. A client sends\n"
    '`{"type", "request_id", "payload"}` and gets exactly one reply with the same\n'
    "`request_id`: the result, or an `error`. Replies are idempotent per (user,\n"
    "`request_id`): resending a request after a lost reply returns the same result\n"
    "and never creates a second room, so a client retries with the SAME id.\n"
    "After `create_room_ok` the connection also receives the room's events: frames\n"
    "whose `request_id` is null.\n"
    "\n"
    "The protocol in prose, with every rule a client must follow: docs/protocol.md."
)

SERVER = "The WebSocket endpoint; it serves no other route. Behind a TLS proxy, use wss."

CHANNEL = (
    "One connection per client. The handshake is refused before any socket is"
    " opened, with nothing written: 401 (token; with a WWW-Authenticate header),"
    " 403 (an Origin not in ROOMS_ALLOWED_ORIGINS), 404 (a path other than /ws),"
    " 429 (too many connections of this user), 503 (the server is full, draining,"
    " or cannot check the user: try again)."
)

ORIGIN_HEADER = (
    "Sent by browsers; must be in ROOMS_ALLOWED_ORIGINS (else HTTP 403). Native clients send none."
)

TOKEN = (
    "A JWT signed with HS256 (ROOMS_JWT_SECRET), `sub` = the user's UUID, `exp` required;"
    " `rooms token USER_ID` prints one. A missing, malformed, expired or wrongly signed token,"
    " or a `sub` that is not a user, refuses the handshake with HTTP 401."
)
BEARER_HEADER = f"`Authorization: Bearer <token>` at the handshake. {TOKEN}"
ACCESS_TOKEN_QUERY = (
    "`?access_token=<token>` on the URL, for browsers (they cannot set headers)."
    " When an Authorization header is present it wins. The query string is never"
    f" logged. {TOKEN}"
)

CREATE_ROOM = (
    "Creates the room and its four seats, the caller in seat 0 as host, in one"
    " transaction; the connection then follows the room's events."
)

ROOM_EVENTS = (
    "Once a connection follows a room (after its create_room_ok, a replay included),"
    " every event of that room reaches it as one text frame, in the server envelope"
    " with request_id null, which is how a client tells it from a reply. Events are"
    " not kept: those sent while a client is reconnecting are lost."
)

CLIENT_FRAME = (
    "Every frame a client sends: a request. request_id is a UUID chosen by the client, new"
    " for each request and the same for each retry of it; the reply echoes it as sent."
)
SERVER_FRAME = (
    "Every frame the server sends: a reply (request_id of the request, or null on an error"
    " about a frame whose request_id could not be read) or an event (request_id null)."
)

ERROR = (
    "Retry a retryable error with the SAME request_id, after a jittered backoff.\n"
    "`request_id` is null when the request's id could not be read."
)

# When each error is sent; docs/protocol.md §5 has the same text in its table.
WHEN: dict[ErrorCode, str] = {
    ErrorCode.BAD_MESSAGE: (
        "not JSON, not an object, a binary frame, a missing or non-UUID request_id,"
        " a missing type (request_id is echoed when it was readable)"
    ),
    ErrorCode.UNKNOWN_TYPE: "type is not a known request",
    ErrorCode.VALIDATION_FAILED: (
        'the payload breaks a rule; details holds one {"field", "problem"} per broken rule'
    ),
    ErrorCode.REQUEST_IN_PROGRESS: (
        "the same request_id of this user is still being processed; retry it unchanged"
    ),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: (
        "the same request_id was used before by this user with a different payload"
    ),
    ErrorCode.RATE_LIMITED: (
        "the connection sends faster than its limit, or the user's create budget is spent"
    ),
    ErrorCode.UNAVAILABLE: (
        "the database is unreachable or too slow; retry with the same request_id"
    ),
    ErrorCode.INTERNAL_ERROR: "anything else; nothing half-done is left behind",
    ErrorCode.ROOM_NOT_FOUND: "no room with that code or id, or it is closed",
    ErrorCode.ROOM_FULL: "every usable seat is occupied",
    ErrorCode.ROOM_IN_GAME: "the room is in_game and the request needs it open",
    ErrorCode.NOT_IN_ROOM: (
        "the user holds no seat in that room (kick_player: nobody holds that seat)"
    ),
    ErrorCode.NOT_HOST: "only the host may do this",
    ErrorCode.NOT_READY: (
        "start_game: an occupied seat is not ready, or fewer than 2 are occupied; details"
        ' holds one {"seat_index", "problem"} per blocking seat ("not ready" or "empty")'
    ),
}

# The create_room rules that JSON Schema cannot state (or states loosely).
PAYLOAD_NOTES: dict[str, str] = {
    "visibility": 'only "private" rooms exist for now',
    "max_players": (
        'a JSON integer from 2 to 4, written as one: true, "4" and 3.0 are refused'
        " (JSON Schema would accept 3.0)"
    ),
    "ruleset_id": 'only "classic" for now',
    "ruleset_config": (
        f"a JSON object of at most {MAX_RULESET_CONFIG_BYTES} bytes as compact JSON; default {{}}"
    ),
}

# Close codes sent by the WebSocket implementation under the application, not by rooms_ws.
WEBSOCKET_LAYER_CLOSE_CODES = frozenset({1007, 1011})

# Every close code a client can get from the server: what it means, what to do.
# docs/protocol.md §8 has the same table.
CLOSE_CODES: dict[int, tuple[str, str]] = {
    CloseCode.NORMAL: ("normal close", "nothing"),
    1007: ("a text frame was not valid UTF-8", "fix the client"),
    CloseCode.TOO_LARGE: (
        "a message was larger than ROOMS_MAX_MESSAGE_BYTES",
        "fix the client (smaller messages)",
    ),
    1011: (
        "no answer to the server's keepalive ping in time, or a server failure",
        "reconnect with backoff; resend unanswered requests, same ids",
    ),
    CloseCode.SERVICE_RESTART: (
        "the server is restarting",
        "reconnect (to any instance) and resend every unanswered request, same ids",
    ),
    CloseCode.TOKEN_EXPIRED: (
        "the token expired while connected (sent within a second of exp);"
        " frames after exp were not processed",
        "reconnect with a fresh token, resend unanswered requests",
    ),
    CloseCode.RATE_ABUSE: (
        "closed for sustained abuse of the rate limit (control frames included)",
        "slow down before reconnecting",
    ),
    CloseCode.SLOW_CONSUMER: (
        "too slow reading: the frames queued for it overflowed",
        "read continuously; reconnect",
    ),
}

# Fixed values, so the document is the same on every run.
EXAMPLE_REQUEST_ID = "0b5d8a7e-3c1f-4e2a-9b6d-2f4e6a8c0d13"
EXAMPLE_ROOM_ID = "6f1c2e9a-8d4b-4c3e-a1f7-5b9d0e2c4a68"
EXAMPLE_CODE = "AB12CD"
EXAMPLE_USER_ID = "3d6f0a8e-5b2c-4f1d-9e7a-1c4b8d2f6a90"
