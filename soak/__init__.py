"""``make soak``: a bounded soak of one ``rooms serve`` while its Redis flaps.

N clients for T seconds send a mix of valid creates, duplicates (the same
request again, as a retrying client would) and garbage, while Redis is
killed, stopped and frozen on a schedule. At the end the run prints what was
sent and answered, and checks what must hold whatever Redis did:

- rooms in PostgreSQL == distinct request ids answered ``create_room_ok``
  (and they are the same rooms);
- no idempotency row left unfinished;
- every replay identical to the first answer;
- no server crash.

    soak.cli        options, the run, the exit status
    soak.services   PostgreSQL (embedded, or a database of its own on
                    ROOMS_SOAK_DATABASE_URL) and a private embedded Redis
    soak.server     the ``rooms serve`` process: start, watch, peak RSS, stop
    soak.flapper    the Redis fault schedule
    soak.traffic    one client's loop and its frames
    soak.tally      what the clients counted
    soak.report     the checks and the printed report

The database of its own, the embedded servers and the server process come
from the shared ``harness`` package (as for the tests and the benchmark).

Everything it starts, it stops (by PID); everything it creates, it drops.
Traffic goes to 127.0.0.1 only.
"""
