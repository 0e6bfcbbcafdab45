"""What the code expects of the database: ``schema.sql`` as the catalog shows it.

Kept by hand beside ``schema.sql`` on purpose: this is what the queries rely
on, and a test checks that a database built from ``schema.sql`` matches it.
"""

from __future__ import annotations

from rooms_adapters.postgres.schema_model import Column, Schema, Table

_USERS = "REFERENCES users(user_id)"

EXPECTED_SCHEMA = Schema(
    enums={
        "room_visibility": ("public", "private"),
        "room_status": ("open", "in_game", "closed"),
        "seat_status": ("empty", "occupied"),
        "seat_ready": ("not_ready", "ready"),
        "idempotency_status": ("in_progress", "completed", "failed"),
    },
    tables={
        table.name: table
        for table in (
            Table(
                "users",
                (
                    Column("user_id", "uuid", True, None),
                    Column("display_name", "text", True, None),
                ),
                frozenset({"PRIMARY KEY (user_id)"}),
                exact=False,
                privileges=("SELECT",),  # read at each handshake; written by the platform
            ),
            Table(
                "rooms",
                (
                    Column("room_id", "uuid", True, None),
                    Column("owner_user_id", "uuid", True, None),
                    Column("code", "text", True, None),
                    Column("visibility", "room_visibility", True, "'private'::room_visibility"),
                    Column("status", "room_status", True, "'open'::room_status"),
                    Column("max_players", "smallint", True, "4"),
                    Column("ruleset_id", "text", True, None),
                    Column("ruleset_config", "jsonb", True, "'{}'::jsonb"),
                    Column("version", "integer", True, "0"),
                ),
                frozenset(
                    {
                        "PRIMARY KEY (room_id)",
                        "UNIQUE (code)",
                        f"FOREIGN KEY (owner_user_id) {_USERS}",
                        "CHECK (((max_players >= 2) AND (max_players <= 4)))",
                    }
                ),
            ),
            Table(
                "room_seats",
                (
                    Column("room_id", "uuid", True, None),
                    Column("seat_index", "smallint", True, None),
                    Column("status", "seat_status", True, None),
                    Column("user_id", "uuid", False, None),
                    Column("is_host", "boolean", True, "false"),
                    Column("ready", "seat_ready", True, None),
                ),
                frozenset(
                    {
                        "PRIMARY KEY (room_id, seat_index)",
                        "FOREIGN KEY (room_id) REFERENCES rooms(room_id) ON DELETE CASCADE",
                        f"FOREIGN KEY (user_id) {_USERS}",
                        "CHECK (((seat_index >= 0) AND (seat_index <= 3)))",
                    }
                ),
            ),
            Table(
                "ws_idempotency",
                (
                    Column("user_id", "uuid", True, None),
                    Column("request_id", "uuid", True, None),
                    Column("status", "idempotency_status", True, None),
                    Column("response_payload", "jsonb", False, None),
                ),
                frozenset(
                    {
                        "PRIMARY KEY (user_id, request_id)",
                        f"FOREIGN KEY (user_id) {_USERS}",
                    }
                ),
            ),
        )
    },
)
