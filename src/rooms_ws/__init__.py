"""rooms_ws: the WebSocket entrypoint of the rooms service (``/ws``) and the ``rooms`` script.

Build the application with :func:`rooms_ws.app.create_app` (settings from
:mod:`rooms_ws.settings`); run it with ``rooms serve``. The wire contract lives
in :mod:`rooms_ws.messages` and :mod:`rooms_ws.errors`.
"""
