"""examples/browser in a real headless Chromium against a real ``rooms serve``.

A browser is the strictest client there is: it cannot set an Authorization
header (the page uses ``?access_token=``) and it always sends its Origin.
The page is served from throwaway static servers on loopback: one origin the
server allows, and one on another port that it must refuse.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright without
any browser download. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import functools
import re
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, async_playwright

from tests.integration.fullstack import Serve
from tests.integration.server_process import ServerProcess, fetch
from tests.integration.ws_support import token_for

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = ROOT / "examples" / "browser"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container: the setuid sandbox is unavailable
    "--disable-gpu",
    "--disable-background-networking",  # no calls home: this machine has no Internet
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{6}$")
WAIT_MS = 30_000


def chromium_path() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None:
        pytest.skip(f"Chromium not found at {CHROMIUM} nor on PATH (apt-get install chromium)")
    return found


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_origin() -> Iterator[Any]:
    """Start static servers of examples/browser on loopback; each call gives an origin."""
    started: list[ThreadingHTTPServer] = []

    def start() -> str:
        handler = functools.partial(_QuietHandler, directory=str(PAGE_DIR))
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def user(database_url: str, redis_url: str) -> AsyncIterator[uuid.UUID]:
    rows = await fetch(
        database_url,
        "INSERT INTO users (user_id, display_name) VALUES ($1, 'Ann') RETURNING user_id",
        uuid.uuid4(),
    )
    yield rows[0]["user_id"]
    redis = aioredis.from_url(redis_url)
    try:
        for row in await fetch(database_url, "SELECT room_id FROM rooms"):
            await redis.delete(f"room:{row['room_id']}:meta", f"room:{row['room_id']}:seats")
    finally:
        await redis.aclose()


async def open_page(browser: Browser, origin: str, server: ServerProcess, token: str) -> Page:
    page = await browser.new_page(viewport={"width": 900, "height": 900})
    await page.goto(f"{origin}/index.html")
    await page.fill("#token", token + "\n")  # as pasted from `rooms token`
    await page.fill("#url", server.url)
    await page.click("#connect")
    await page.wait_for_selector(
        '#status:is([data-state="open"], [data-state="refused"])', timeout=WAIT_MS
    )
    return page


async def test_a_page_creates_a_room_and_another_origin_is_refused(
    browser: Browser, static_origin: Any, serve: Serve, database_url: str, user: uuid.UUID
) -> None:
    allowed, other = static_origin(), static_origin()
    server = await serve(ROOMS_ALLOWED_ORIGINS=allowed)
    ARTIFACTS.mkdir(exist_ok=True)
    token = token_for(user)

    page = await open_page(browser, allowed, server, token)
    assert await page.get_attribute("#status", "data-state") == "open"
    await page.select_option("#players", "3")
    await page.dblclick("#create")  # the second click lands on a disabled button: one room
    await page.wait_for_function(
        "/^[0-9A-Z]{6}$/.test(document.getElementById('code').textContent)", timeout=WAIT_MS
    )
    code = await page.text_content("#code")
    frames = await page.text_content("#frames")
    await page.screenshot(path=str(ARTIFACTS / "browser-create-room.png"), full_page=True)

    assert code is not None and CODE.match(code)
    assert frames is not None and '"type":"create_room_ok"' in frames.replace(" ", "")
    rooms = await fetch(
        database_url, "SELECT code, owner_user_id, max_players, status::text FROM rooms"
    )
    assert [dict(r) for r in rooms] == [
        {"code": code, "owner_user_id": user, "max_players": 3, "status": "open"}
    ]

    refused = await open_page(browser, other, server, token)
    await refused.screenshot(path=str(ARTIFACTS / "browser-refused-origin.png"), full_page=True)
    assert await refused.get_attribute("#status", "data-state") == "refused"
    assert "not allowed" in (await refused.text_content("#status") or "")
    assert await refused.is_disabled("#create")
    assert await refused.text_content("#code") == ""
    assert len(await fetch(database_url, "SELECT 1 FROM rooms")) == 1
    assert len(await fetch(database_url, "SELECT 1 FROM ws_idempotency")) == 1
    refusals = [line for line in server.log().splitlines() if "handshake refused" in line]
    assert len(refusals) == 1 and "403" in refusals[0], refusals


async def test_inputs_are_checked_before_use(browser: Browser, static_origin: Any) -> None:
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{static_origin()}/index.html")
    await page.click("#connect")
    assert await page.get_attribute("#status", "data-state") == "failed"
    assert "token" in (await page.text_content("#status") or "")
    await page.fill("#token", "a.b.c")
    for url in ("127.0.0.1:8000/ws", "http://127.0.0.1:8000/ws", "ws://"):
        await page.fill("#url", url)
        await page.click("#connect")
        assert await page.get_attribute("#status", "data-state") == "failed"
        assert "not a WebSocket address" in (await page.text_content("#status") or "")
    assert errors == []
    assert await page.is_disabled("#create") and await page.is_disabled("#join")


@pytest.fixture
async def second_user(database_url: str) -> uuid.UUID:
    rows = await fetch(
        database_url,
        "INSERT INTO users (user_id, display_name) VALUES ($1, 'Bob') RETURNING user_id",
        uuid.uuid4(),
    )
    user_id: uuid.UUID = rows[0]["user_id"]
    return user_id


async def seat_row(page: Page, seat: int, selector: str = "") -> None:
    await page.wait_for_selector(f'#seats tr[data-seat="{seat}"]{selector}', timeout=WAIT_MS)


async def test_two_players_create_join_by_a_lower_case_code_get_ready_and_start(
    browser: Browser,
    static_origin: Any,
    serve: Serve,
    database_url: str,
    user: uuid.UUID,
    second_user: uuid.UUID,
) -> None:
    origin = static_origin()
    server = await serve(ROOMS_ALLOWED_ORIGINS=origin)
    ARTIFACTS.mkdir(exist_ok=True)
    # Browser.new_page opens each page in a context of its own: two players, two sessions.
    ann = await open_page(browser, origin, server, token_for(user))
    bob = await open_page(browser, origin, server, token_for(second_user))
    assert ann.context is not bob.context

    await ann.select_option("#players", "3")
    await ann.click("#create")
    await seat_row(ann, 0, '[data-status="occupied"]')
    code = await ann.text_content("#code")
    assert code is not None and CODE.match(code)

    await bob.fill("#join-code", code.lower())
    await bob.click("#join")
    for page in (ann, bob):  # Ann sees Bob arrive from the player_joined event
        await seat_row(page, 1, '[data-status="occupied"]')
        await seat_row(page, 2, '[data-status="empty"]')
    assert "Bob" in (await ann.text_content('#seats tr[data-seat="1"]') or "")
    assert "host" in (await bob.text_content('#seats tr[data-seat="0"]') or "")
    assert await bob.is_hidden("#start")  # only the host may start

    await bob.click("#ready")
    await ann.click("#ready")
    for page in (ann, bob):
        await seat_row(page, 0, " .badge.ready")
        await seat_row(page, 1, " .badge.ready")
    await ann.click("#start")
    for page in (ann, bob):
        await page.wait_for_selector('#room[data-status="in_game"]', timeout=WAIT_MS)
    await ann.screenshot(path=str(ARTIFACTS / "browser-lobby-host.png"), full_page=True)
    await bob.screenshot(path=str(ARTIFACTS / "browser-lobby-guest.png"), full_page=True)

    assert await ann.text_content("#message") == ""
    assert await bob.text_content("#message") == ""
    rooms = await fetch(database_url, "SELECT code, status::text, version FROM rooms")
    assert [dict(r) for r in rooms] == [{"code": code, "status": "in_game", "version": 4}]
    seats = await fetch(
        database_url,
        "SELECT seat_index, user_id, is_host, ready::text FROM room_seats"
        " WHERE status = 'occupied' ORDER BY seat_index",
    )
    assert [tuple(s) for s in seats] == [(0, user, True, "ready"), (1, second_user, False, "ready")]
    frames = (await ann.text_content("#events") or "") + (await bob.text_content("#events") or "")
    assert "create_room_ok" not in frames and "join_room_ok" not in frames
