"""The client stands alone (it may not import the server), so its copy of the
error codes is checked against the server's here."""

from rooms_client.errors import ErrorCode as ClientErrorCode
from rooms_ws.errors import ErrorCode as ServerErrorCode


def test_the_client_knows_exactly_the_servers_error_codes() -> None:
    assert {c.value for c in ServerErrorCode} == {c.value for c in ClientErrorCode}
