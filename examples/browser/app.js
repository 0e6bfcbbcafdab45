// rooms in the browser: connect with ?access_token=, send create_room, show the code.
// No build step, no dependency. The wire format is docs/asyncapi.yaml.
"use strict";

const $ = (id) => document.getElementById(id);
const RETRIES = 5; // tries of one request after a retryable error, same request_id

let socket = null;
let pending = null; // {requestId, frame, tries} of the create_room awaiting its reply

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

function logFrame(direction, text) {
  const line = document.createElement("div");
  line.textContent = `${direction} ${text}`;
  $("frames").append(line);
}

function connect() {
  const token = $("token").value.trim(); // `rooms token` ends its output with a newline
  const base = $("url").value.trim();
  if (!token) {
    status("failed", "Paste a token first.");
    return;
  }
  if (socket) socket.close(1000);
  const url = new URL(base);
  url.searchParams.set("access_token", token);
  let opened = false;
  status("connecting", `Connecting to ${base} ...`);
  $("connect").disabled = true;
  socket = new WebSocket(url);
  const ws = socket;

  ws.onopen = () => {
    opened = true;
    status("open", `Connected to ${base}.`);
    $("create").disabled = false;
  };
  ws.onmessage = (msg) => {
    logFrame("<", msg.data);
    onFrame(msg.data);
  };
  ws.onclose = (ev) => {
    if (ws !== socket) return; // an older socket, replaced by a newer one
    $("create").disabled = true;
    $("connect").disabled = false;
    if (!opened) {
      // A refused handshake looks the same to a page whatever the HTTP status was.
      status(
        "refused",
        `Connection refused (close code ${ev.code}): the token is invalid or expired (HTTP 401), ` +
          `this page's origin ${location.origin} is not allowed (HTTP 403), ` +
          `or no server listens at ${base}.`,
      );
    } else if (ev.code === 1012 || ev.code === 1001) {
      status("closed", `The server is restarting (close code ${ev.code}): connect again.`);
    } else {
      status("closed", `Connection closed (close code ${ev.code}${ev.reason ? ": " + ev.reason : ""}).`);
    }
  };
}

function createRoom() {
  const requestId = uuid4();
  const frame = JSON.stringify({
    type: "create_room",
    request_id: requestId,
    payload: {
      visibility: "private",
      max_players: Number($("players").value),
      ruleset_id: "classic",
      ruleset_config: {},
    },
  });
  pending = { requestId, frame, tries: 1 };
  $("code").textContent = "";
  $("room").textContent = "";
  send(frame);
}

function send(frame) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  logFrame(">", frame);
  socket.send(frame);
}

function onFrame(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return; // a room event that is not JSON: it is in the log, nothing else to do
  }
  if (!pending || !msg || msg.request_id !== pending.requestId) return; // a room event
  if (msg.type === "create_room_ok") {
    pending = null;
    $("code").textContent = msg.payload.code;
    $("room").textContent = `room ${msg.payload.room_id}, you are the host in seat ${msg.payload.seat_index}`;
  } else if (msg.type === "error" && msg.payload.retryable && pending.tries < RETRIES) {
    // Same request_id: the server answers a repeat with the first result, never a second room.
    const retry = pending;
    retry.tries += 1;
    const ceiling = Math.min(4000, 200 * 2 ** retry.tries);
    setTimeout(() => send(retry.frame), ceiling / 2 + (Math.random() * ceiling) / 2);
  } else if (msg.type === "error") {
    pending = null;
    const details = (msg.payload.details || []).map((d) => `${d.field} ${d.problem}`).join("; ");
    $("room").textContent = `error ${msg.payload.code}: ${msg.payload.message}${details ? " (" + details + ")" : ""}`;
  }
}

$("connect").addEventListener("click", connect);
$("create").addEventListener("click", createRoom);
