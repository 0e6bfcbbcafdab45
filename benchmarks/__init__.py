"""`make bench`: how fast the rooms server creates rooms, against its own floor.

Run as ``python -m benchmarks [flags]``. Three phases, each printing figures and
never a verdict:

1. ``create``: C WebSocket clients send ``create_room`` back to back against a
   ``rooms serve`` process, interleaved with the story's transaction issued
   straight from asyncpg at the same concurrency (the baseline), so the ratio
   between the two survives the machine's speed drifting during the run.
2. ``idle``: server memory per idle authenticated connection, next to a bare
   FastAPI/uvicorn WebSocket endpoint measured the same way.
3. ``fanout``: publish -> client delivery latency on ``room:{id}:events``.

Every load generator runs in a process of its own, never in the process that
measures the server.
"""
