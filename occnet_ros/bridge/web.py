"""Plain HTTP on the bridge's port (no ROS): 414 for request paths over ``max_path_bytes``, and
the browser viewer's static files for GETs (when ``serve_viewer``); WebSocket upgrades pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

VIEWER_DIR = Path(__file__).resolve().parent / "viewer"
CONTENT_TYPES = {"html": "text/html", "js": "text/javascript", "css": "text/css"}


def text_response(status: int, reason: str, body: bytes) -> Response:
    return Response(status, reason, Headers([("Content-Type", "text/plain")]), body)


def http_response(request: Request, settings: Any, stats: dict[str, int]) -> Response | None:
    """The answer to ``request`` (None: let the WebSocket handshake go on). ``settings`` is the
    server's BridgeSettings; a path too long is counted in ``stats["paths_too_long"]``."""
    if len(request.path.encode("utf-8", errors="replace")) > settings.max_path_bytes:
        stats["paths_too_long"] += 1
        return text_response(414, "URI Too Long", b"request path too long\n")
    if request.headers.get("Upgrade", "").lower() == "websocket" or not settings.serve_viewer:
        return None
    not_found = text_response(404, "Not Found", b"not found\n")
    name = request.path.split("?")[0].lstrip("/") or "index.html"
    try:
        path = (VIEWER_DIR / name).resolve()
        if VIEWER_DIR not in path.parents or not path.is_file():
            return not_found
    except (OSError, ValueError):  # a name the file system rejects (too long, NUL byte): not ours
        return not_found
    kind = CONTENT_TYPES.get(path.suffix.lstrip("."), "application/octet-stream")
    return Response(200, "OK", Headers([("Content-Type", kind)]), path.read_bytes())
