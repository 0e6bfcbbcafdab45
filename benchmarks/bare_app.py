"""The reference point for memory: a bare FastAPI/uvicorn WebSocket endpoint.

It accepts any connection on ``/ws`` and echoes text frames; no auth, no
database, no Redis. Run as ``python -m benchmarks.bare_app --port P``, with
uvicorn's defaults (uvloop, httptools, the websockets implementation).
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from benchmarks.procfs import raise_open_file_limit

app = FastAPI()


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ws", default="auto", help="uvicorn's WebSocket implementation")
    args = parser.parse_args()
    raise_open_file_limit()
    uvicorn.run(app, host=args.host, port=args.port, ws=args.ws, log_level="warning")


if __name__ == "__main__":
    main()
