"""The AsyncAPI 3.0 document of the service (``docs/asyncapi.yaml``), built from the code.

    prose.py     the words: descriptions, the error and close code texts (data only)
    schemas.py   JSON Schemas from the frame models and the domain's rules
    examples.py  example frames, made by the functions the server answers with
    document.py  puts them together as AsyncAPI 3.0
    render.py    writes it as YAML (PyYAML) or JSON: ``rooms asyncapi``

A change to the models changes the document, and ``tests/unit/test_asyncapi.py``
fails until the committed file is regenerated with :data:`REGENERATE`.
"""

from __future__ import annotations

from rooms_ws.asyncapi.document import document
from rooms_ws.asyncapi.render import REGENERATE, main, render_yaml

__all__ = ["REGENERATE", "document", "main", "render_yaml"]
