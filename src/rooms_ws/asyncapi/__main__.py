"""``python -m rooms_ws.asyncapi``: the same as ``rooms asyncapi``."""

from rooms_ws.asyncapi import main

raise SystemExit(main())
