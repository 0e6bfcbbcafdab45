"""What tests/, benchmarks/ and soak/ need to run the real thing, written once.

- :mod:`harness.ports`: a free port of 127.0.0.1.
- :mod:`harness.services`: PostgreSQL and Redis, a configured server or an
  embedded one in a private directory removed afterwards.
- :mod:`harness.database`: a database of one's own on a server, with the
  schema, dropped ``WITH (FORCE)`` afterwards.
- :mod:`harness.server`: ``rooms serve`` (or any server) as a subprocess,
  its environment, its log, and its stop by PID.
- :mod:`harness.tcp_proxy`, :mod:`harness.postgres_proxy`: loopback proxies a
  test can freeze or cut, and that count PostgreSQL round trips (the tests'
  faults, ``python -m benchmarks.costs``).

Importable from the repository's root (pytest's ``pythonpath = "."``,
``python -m benchmarks``, ``python -m soak``); not part of the installed package.
"""
