"""The embedded reference FHIR R4 server (Starlette + SQLite): the harness's conformant example."""

from .app import create_app
from .server import EmbeddedServer, serve

__all__ = ["EmbeddedServer", "create_app", "serve"]
