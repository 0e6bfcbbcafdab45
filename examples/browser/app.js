// rooms in the browser: a lobby page. Connect with ?access_token=, create a room or
// join one by its code, watch the seats change live, get ready, start.
// No build step, no dependency. The wire format is docs/protocol.md (docs/asyncapi.yaml).
"use strict";

const $ = (id) => document.getElementById(id);
const RETRIES = 5; // tries of one request after a retryable error, same request_id
const REPLY_TIMEOUT_MS = 15000; // then the same frame again: a lost reply is asked for anew
const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{6}$/;
const EVENTS = new Set([
  "player_joined", "player_left", "host_changed", "player_ready",
  "game_started", "room_closed", "player_disconnected", "player_reconnected",
]);

// What a person is told for each error code (docs/protocol.md, errors).
const MESSAGES = {
  room_not_found: "No open room has that code (or the room has closed). Check the code with its host.",
  room_full: "That room is full: every seat is taken.",
  room_in_game: "That room's game has already started.",
  not_in_room: "You are not in that room any more (you left or were removed), or that seat is already empty.",
  not_host: "Only the host can do that.",
  not_ready: "The game cannot start yet: at least 2 players must be seated and all of them ready.",
  validation_failed: "The server refused the request's values.",
  bad_message: "The server could not read the request.",
  unknown_type: "This server does not know that request (it may be older than this page).",
  request_in_progress: "The server is still working on that request; try again in a moment.",
  idempotency_key_reused: "That request id was already used for another request.",
  rate_limited: "Too many requests: slow down and try again.",
  unavailable: "The server cannot reach its database right now: try again shortly.",
  internal_error: "The server failed while handling the request: try again.",
};

let socket = null;
let room = null; // the snapshot of the room on screen (docs/protocol.md, lobby), or null
let me = null; // {seat, userId} in `room`
const pending = new Map(); // request_id -> {type, frame, tries, onOk}

// --- small pieces -------------------------------------------------------------------

function uuid4() {
  // crypto.randomUUID needs a secure context; getRandomValues works everywhere.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function status(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

function message(text, kind = "error") {
  const el = $("message");
  el.dataset.kind = kind;
  el.textContent = text;
}

function logFrame(direction, text) {
  const line = document.createElement("div");
  line.textContent = `${direction} ${text}`;
  $("frames").append(line);
}

function logEvent(text) {
  const line = document.createElement("div");
  line.textContent = text;
  $("events").prepend(line);
}

function isOpen() {
  return socket !== null && socket.readyState === WebSocket.OPEN;
}

function busy(...types) {
  for (const request of pending.values()) if (types.includes(request.type)) return true;
  return false;
}

// The code as the server reads it: any case, I and L as 1, O as 0, no spaces or hyphens.
function normalisedCode(text) {
  return text.toUpperCase().replace(/[\s-]/g, "").replace(/[IL]/g, "1").replace(/O/g, "0");
}

// --- the connection -------------------------------------------------------------------

function serverUrl(base, token) {
  let url;
  try {
    url = new URL(base);
  } catch {
    return null;
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return null;
  url.searchParams.set("access_token", token);
  return url;
}

function connect() {
  const token = $("token").value.trim(); // `rooms token` ends its output with a newline
  const base = $("url").value.trim();
  if (!token || /\s/.test(token)) {
    status("failed", "Paste one access token (the output of `rooms token <user id>`) first.");
    return;
  }
  const url = serverUrl(base, token);
  if (url === null) {
    status("failed", `"${base}" is not a WebSocket address: write it as ws://host:port/ws (or wss://...).`);
    return;
  }
  if (socket) socket.close(1000);
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (err) {
    status("failed", `Cannot connect to ${base}: ${err.message}`);
    return;
  }
  socket = ws;
  let opened = false;
  status("connecting", `Connecting to ${base} ...`);
  render();

  ws.onopen = () => {
    opened = true;
    status("open", `Connected to ${base}.`);
    // Same request ids: the server answers a repeat with its first result.
    for (const request of pending.values()) send(request.frame);
    if (room !== null && room.status !== "closed" && !busy("get_room")) {
      // Back within the hold: get_room follows the room again and brings the missed changes.
      request("get_room", { room_id: room.room_id }, showRoom);
    }
    render();
  };
  ws.onmessage = (msg) => {
    logFrame("<", msg.data);
    onFrame(msg.data);
  };
  ws.onclose = (ev) => {
    if (ws !== socket) return; // an older socket, replaced by a newer one
    socket = null;
    render();
    if (!opened) {
      // A refused handshake looks the same to a page whatever the HTTP status was.
      status(
        "refused",
        `Connection refused (close code ${ev.code}): the token is invalid or expired (HTTP 401), ` +
          `this page's origin ${location.origin} is not allowed (HTTP 403), ` +
          `or no server listens at ${base}.`,
      );
    } else if (ev.code === 1000 && ev.wasClean && ws.closedByUs) {
      status("closed", "Disconnected. Reconnect to take your seat back (it is held for a while).");
    } else if (ev.code === 1012 || ev.code === 1001) {
      status("closed", `The server is restarting (close code ${ev.code}): reconnect.`);
    } else {
      status("closed", `Connection closed (close code ${ev.code}${ev.reason ? ": " + ev.reason : ""}).`);
    }
  };
}

function disconnect() {
  if (!socket) return;
  socket.closedByUs = true;
  socket.close(1000);
}

function send(frame) {
  if (!isOpen()) return false;
  logFrame(">", frame);
  socket.send(frame);
  return true;
}

// One request; `onOk(payload)` runs on its success reply. The buttons that could
// send it again stay disabled until it is answered (see render).
function request(type, payload, onOk) {
  const requestId = uuid4();
  const frame = JSON.stringify({ type, request_id: requestId, payload });
  const entry = { type, frame, tries: 1, onOk, timer: null };
  pending.set(requestId, entry);
  message("");
  send(frame); // if closed, it is sent on the next connection
  awaitReply(requestId, entry);
  render();
}

// A reply that never comes must not leave its button disabled for good.
function awaitReply(requestId, entry) {
  clearTimeout(entry.timer);
  entry.timer = setTimeout(() => {
    if (pending.get(requestId) !== entry) return;
    if (entry.tries < RETRIES) {
      entry.tries += 1;
      send(entry.frame);
      awaitReply(requestId, entry);
      return;
    }
    pending.delete(requestId);
    message(`${entry.type}: no reply from the server; it may or may not have been done (the room shows what is).`);
    render();
  }, REPLY_TIMEOUT_MS);
}

// --- frames in ---------------------------------------------------------------------------

function onFrame(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return; // not JSON: it is in the frame log, nothing else to do
  }
  if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
  if (typeof msg.request_id === "string") {
    onReply(msg); // a reply is never a room event, even a late or unknown one
  } else if (msg.request_id === null && EVENTS.has(msg.type) && msg.payload) {
    onEvent(msg.type, msg.payload);
  }
}

function onReply(msg) {
  const request = pending.get(msg.request_id);
  if (!request) return; // a late copy of an answered request
  const body = msg.payload || {};
  if (msg.type === "error" && body.retryable && request.tries < RETRIES) {
    request.tries += 1;
    const ceiling = Math.min(4000, 200 * 2 ** request.tries);
    clearTimeout(request.timer);
    setTimeout(() => {
      send(request.frame);
      awaitReply(msg.request_id, request);
    }, ceiling / 2 + (Math.random() * ceiling) / 2);
    return;
  }
  clearTimeout(request.timer);
  pending.delete(msg.request_id);
  if (msg.type === "error") {
    showError(request.type, body);
  } else {
    request.onOk(body);
  }
  render();
}

function showError(type, body) {
  const known = MESSAGES[body.code] || `${body.code}: ${body.message}`;
  const details = (Array.isArray(body.details) ? body.details : [])
    .map((d) => ("seat_index" in d ? `seat ${d.seat_index}: ${d.problem}` : `${d.field}: ${d.problem}`))
    .join("; ");
  message(`${type}: ${known}${details ? " (" + details + ")" : ""}`);
  if (body.code === "not_in_room" && type !== "kick_player") leftRoom();
  if (body.code === "room_not_found" && type !== "join_room") leftRoom();
}

function onEvent(type, p) {
  if (room === null || p.room_id !== room.room_id) return; // not the room on screen
  if (typeof p.version !== "number") return;
  if (p.version < room.version || p.version > room.version + 1) {
    // An event was lost (pub/sub may drop one) or came late: fetch the room.
    if (!busy("get_room")) request("get_room", { room_id: room.room_id }, showRoom);
    return;
  }
  room.version = p.version;
  const seat = room.seats[p.seat_index];
  const who = seat && seat.display_name ? seat.display_name : `seat ${p.seat_index}`;
  switch (type) {
    case "player_joined":
      Object.assign(seat, {
        status: "occupied", user_id: p.user_id, display_name: p.display_name,
        is_host: false, ready: false, connected: true,
      });
      logEvent(`${p.display_name} joined (seat ${p.seat_index})`);
      break;
    case "player_left":
      logEvent(`${who} ${p.reason === "kicked" ? "was removed" : p.reason === "timeout" ? "timed out" : "left"}`);
      Object.assign(seat, {
        status: "empty", user_id: null, display_name: null, is_host: false, ready: false, connected: false,
      });
      if (me && p.user_id === me.userId) {
        message(p.reason === "kicked" ? "The host removed you from the room." : "You left the room.", "info");
        leftRoom();
        return;
      }
      break;
    case "host_changed":
      for (const s of room.seats) s.is_host = s.seat_index === p.seat_index;
      room.host_seat = p.seat_index;
      logEvent(`${who} is the host now`);
      break;
    case "player_ready":
      seat.ready = p.ready;
      logEvent(`${who} is ${p.ready ? "ready" : "not ready"}`);
      break;
    case "game_started":
      room.status = "in_game";
      logEvent("The game has started!");
      break;
    case "room_closed":
      room.status = "closed";
      logEvent("The room closed");
      break;
    case "player_disconnected":
    case "player_reconnected":
      seat.connected = type === "player_reconnected";
      logEvent(`${who} ${seat.connected ? "is back" : "lost the connection"}`);
      break;
  }
  render();
}

// --- the room on screen ------------------------------------------------------------------

function showRoom(payload) {
  const snapshot = payload.room;
  if (!snapshot || !Array.isArray(snapshot.seats)) return;
  if (me === null || room === null || room.room_id !== snapshot.room_id) {
    const mine = snapshot.seats[payload.seat_index ?? -1];
    me = mine ? { seat: mine.seat_index, userId: mine.user_id } : me;
  }
  room = snapshot;
  if (me) {
    const mine = room.seats.find((s) => s.user_id === me.userId);
    if (mine) me.seat = mine.seat_index;
  }
  render();
}

function leftRoom() {
  room = null;
  me = null;
  render();
}

function render() {
  const connected = isOpen();
  $("connect").disabled = socket !== null && !connected; // while connecting
  $("connect").textContent = room !== null && !connected ? "Reconnect" : "Connect";
  $("disconnect").disabled = !connected;
  const entering = busy("create_room", "join_room");
  $("create").disabled = !connected || entering;
  $("join").disabled = !connected || entering;

  const mine = room && me ? room.seats[me.seat] : null;
  const isHost = Boolean(mine && mine.is_host);
  const open = room !== null && room.status === "open";
  $("code").textContent = room ? room.code : $("code").dataset.code || "";
  $("seats").hidden = room === null;
  $("lobby-actions").hidden = room === null;
  if (room === null) {
    $("room").textContent = $("room").dataset.text || "";
    $("seats").tBodies[0].replaceChildren();
    return;
  }
  const seated = room.seats.filter((s) => s.status === "occupied").length;
  $("room").textContent =
    `room ${room.room_id}: ${room.status.replace("_", " ")}, ${seated} of ${room.max_players} seated` +
    (mine ? `, you are in seat ${mine.seat_index}${isHost ? " (host)" : ""}` : "");
  $("room").dataset.status = room.status;

  const rows = room.seats.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.status = s.status;
    tr.dataset.seat = s.seat_index;
    const cells = [document.createElement("td"), document.createElement("td"), document.createElement("td"), document.createElement("td")];
    cells[0].textContent = String(s.seat_index);
    cells[1].textContent = s.status === "occupied" ? s.display_name || "?" : "(empty)";
    if (s.status === "occupied") {
      const badges = [];
      if (s.is_host) badges.push(["host", "host"]);
      badges.push(s.ready ? ["ready", "ready"] : ["", "not ready"]);
      if (!s.connected) badges.push(["away", "disconnected"]);
      if (me && s.seat_index === me.seat) badges.push(["", "you"]);
      for (const [cls, text] of badges) {
        const span = document.createElement("span");
        span.className = `badge ${cls}`;
        span.textContent = text;
        cells[2].append(span, " ");
      }
      if (isHost && open && s.seat_index !== me.seat) {
        const kick = document.createElement("button");
        kick.textContent = "Kick";
        kick.className = "kick";
        kick.disabled = !connected || busy("kick_player");
        kick.addEventListener("click", () => kickPlayer(s.seat_index));
        cells[3].append(kick);
      }
    }
    tr.append(...cells);
    return tr;
  });
  $("seats").tBodies[0].replaceChildren(...rows);

  $("ready").textContent = mine && mine.ready ? "I am not ready" : "I am ready";
  $("ready").disabled = !connected || !open || !mine || busy("set_ready");
  $("start").hidden = !isHost;
  $("start").disabled = !connected || !open || busy("start_game");
  $("leave").disabled = !connected || room.status === "closed" || busy("leave_room");
}

// --- the buttons ---------------------------------------------------------------------------

function createRoom() {
  const players = Number($("players").value);
  if (!Number.isInteger(players) || players < 2 || players > 4) {
    message("Choose 2, 3 or 4 players.");
    return;
  }
  if (busy("create_room", "join_room")) return; // a second click while the first is pending
  $("code").dataset.code = "";
  $("room").dataset.text = "";
  const payload = { visibility: "private", max_players: players, ruleset_id: "classic", ruleset_config: {} };
  request("create_room", payload, (body) => {
    // The code first: it is what the host reads out, whatever happens next.
    $("code").dataset.code = body.code;
    $("room").dataset.text = `room ${body.room_id}, you are the host in seat ${body.seat_index}`;
    room = null;
    me = null;
    render();
    request("get_room", { room_id: body.room_id }, (reply) => showRoom({ ...reply, seat_index: body.seat_index }));
  });
}

function joinRoom() {
  const typed = $("join-code").value.trim();
  const code = normalisedCode(typed);
  if (!CROCKFORD.test(code)) {
    message(`"${typed}" is not a room code: a code has 6 letters and digits, like AB12CD.`);
    return;
  }
  if (busy("create_room", "join_room")) return;
  $("code").dataset.code = "";
  $("room").dataset.text = "";
  request("join_room", { code: typed }, (body) => {
    room = null;
    me = null;
    showRoom(body);
  });
}

function toggleReady() {
  const mine = room && me ? room.seats[me.seat] : null;
  if (!mine || busy("set_ready")) return;
  request("set_ready", { room_id: room.room_id, ready: !mine.ready }, (body) => {
    // The reply may come before the event: show it at once (the event changes nothing more).
    if (room && room.room_id === body.room_id && room.seats[body.seat_index]) {
      room.seats[body.seat_index].ready = body.ready;
    }
  });
}

function kickPlayer(seatIndex) {
  if (!room || !Number.isInteger(seatIndex) || busy("kick_player")) return;
  request("kick_player", { room_id: room.room_id, seat_index: seatIndex }, () => {});
}

function startGame() {
  if (!room || busy("start_game")) return;
  request("start_game", { room_id: room.room_id }, () => {});
}

function leaveRoom() {
  if (!room || busy("leave_room")) return;
  const roomId = room.room_id;
  request("leave_room", { room_id: roomId }, () => {
    if (room && room.room_id === roomId) {
      message("You left the room.", "info");
      leftRoom();
    }
  });
}

$("connect").addEventListener("click", connect);
$("disconnect").addEventListener("click", disconnect);
$("create").addEventListener("click", createRoom);
$("join").addEventListener("click", joinRoom);
$("join-code").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !$("join").disabled) joinRoom();
});
$("ready").addEventListener("click", toggleReady);
$("start").addEventListener("click", startGame);
$("leave").addEventListener("click", leaveRoom);
