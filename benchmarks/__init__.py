"""`make bench`: how fast the rooms server creates rooms, against its own floor.

Run as ``python -m benchmarks [flags]``. Six phases, each printing figures, and
at the end one table of issue 14's goals with met/missed beside each figure
(benchmarks/goals.py):

1. ``create``: C WebSocket clients send ``create_room`` back to back against a
   ``rooms serve`` process, interleaved with the story's transaction issued
   straight from asyncpg at the same concurrency (the baseline), so the ratio
   between the two survives the machine's speed drifting during the run; and
   against a second server with ``ROOMS_GC_FREEZE=false``.
2. ``idle``: server memory per idle authenticated connection (each following
   a room), next to a bare FastAPI/uvicorn WebSocket endpoint measured the same way.
3. ``fanout``: publish -> client delivery latency on ``room:{id}:events``.
4. ``lobby``: pairs of players from create to leave, per request type.
5. ``crowd``: 1,000 rooms of 4, server CPU per join / set_ready / leave from
   windows of one request type each, and event delivery to the other members.
6. ``scale``: create rate of ``--workers 2`` and of two processes on two
   ports, against one process, in the same run.

Every load generator runs in a process of its own, never in the process that
measures the server.
"""
