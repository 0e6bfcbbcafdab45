-- The tables of story 1.1, plus the minimal `users` table this service reads.
--
-- Safe to apply any number of times: every statement creates only what is
-- missing and never alters what exists. `rooms db check` reports an existing
-- object that differs; fixing it is an operator's decision, not this file's.
-- Unqualified names: everything lands in the connection's current schema.

DO $$
BEGIN
    -- CREATE TYPE has no IF NOT EXISTS; look in the current schema only, like
    -- the CREATE TYPE below does.
    IF to_regtype(quote_ident(current_schema()) || '.room_visibility') IS NULL THEN
        CREATE TYPE room_visibility AS ENUM ('public', 'private');
    END IF;
    IF to_regtype(quote_ident(current_schema()) || '.room_status') IS NULL THEN
        CREATE TYPE room_status AS ENUM ('open', 'in_game', 'closed');
    END IF;
    IF to_regtype(quote_ident(current_schema()) || '.seat_status') IS NULL THEN
        CREATE TYPE seat_status AS ENUM ('empty', 'occupied');
    END IF;
    IF to_regtype(quote_ident(current_schema()) || '.seat_ready') IS NULL THEN
        CREATE TYPE seat_ready AS ENUM ('not_ready', 'ready');
    END IF;
    IF to_regtype(quote_ident(current_schema()) || '.idempotency_status') IS NULL THEN
        CREATE TYPE idempotency_status AS ENUM ('in_progress', 'completed', 'failed');
    END IF;
END
$$;

-- Owned by the surrounding platform; created here only so that a fresh
-- database (development, tests) has what the foreign keys point to.
CREATE TABLE IF NOT EXISTS users (
    user_id      uuid PRIMARY KEY,
    display_name text NOT NULL
);

CREATE TABLE IF NOT EXISTS rooms (
    room_id        uuid PRIMARY KEY,
    owner_user_id  uuid NOT NULL REFERENCES users (user_id),
    code           text NOT NULL UNIQUE,
    visibility     room_visibility NOT NULL DEFAULT 'private',
    status         room_status NOT NULL DEFAULT 'open',
    max_players    smallint NOT NULL DEFAULT 4 CHECK (max_players BETWEEN 2 AND 4),
    ruleset_id     text NOT NULL,
    ruleset_config jsonb NOT NULL DEFAULT '{}',
    version        integer NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS room_seats (
    room_id    uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    seat_index smallint NOT NULL CHECK (seat_index BETWEEN 0 AND 3),
    status     seat_status NOT NULL,
    user_id    uuid REFERENCES users (user_id),
    is_host    boolean NOT NULL DEFAULT false,
    ready      seat_ready NOT NULL,
    PRIMARY KEY (room_id, seat_index)
);

CREATE TABLE IF NOT EXISTS ws_idempotency (
    user_id          uuid NOT NULL REFERENCES users (user_id),
    request_id       uuid NOT NULL,
    status           idempotency_status NOT NULL,
    -- NULL-able: the story gives it no default, and a row being processed has
    -- no result yet. This service stores {"fingerprint": ..., "result": ...}.
    response_payload jsonb,
    PRIMARY KEY (user_id, request_id)
);
