"""The design page's local server: the standard library's ``http.server``, one page and a JSON API.

``GET /``
    The page (``static/index.html``: its script and style inline, nothing from the network).
``GET /api/shapes``
    The shapes of :mod:`dosefinding.shapes` with their guesstimate parameters, and the first design.
``POST /api/design``
    ``{"design": {fields}, "seq": n, "client": id}`` -> ``{"seq": n, "numbers": {...}}`` (200),
    ``{"seq": n, "errors": {field: message}}`` (400: the :class:`~dosefinding.errors.InputError`
    message of each field at fault), or ``{"seq": n, "superseded": true}`` (409: the same client
    sent a newer request while this one waited; its numbers would be stale).
``POST /api/spec``
    The same body -> ``{"toml": text, "filename": name}``: the design as a trial spec.

Requests are computed one at a time (the library's caches of contrast geometries are shared);
a request waiting for its turn that a newer one from the same client has overtaken is answered
409 without computing. Nothing the server answers holds a traceback: an unexpected failure is
``{"error": "internal error (<type>): <message>"}`` (500) and its traceback goes to the log.
POST bodies must be ``application/json`` (a browser page of another site cannot send that
without a CORS preflight, which the server does not grant) and at most 64 KiB. A server on the
loopback answers only requests whose ``Host`` is the loopback (403 otherwise: DNS rebinding).

Examples
--------
>>> server = design_server("127.0.0.1", 0)
>>> server.server_address[0]
'127.0.0.1'
>>> server.server_close()
"""

from __future__ import annotations

import json
import logging
import threading
import webbrowser
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from dosefinding.design.app.inputs import DEFAULTS, FieldErrors, error_field, read_design, shape_catalogue
from dosefinding.design.app.results import design_numbers
from dosefinding.design.app.spec_export import design_spec
from dosefinding.errors import InputError

__all__ = ["MAX_BODY", "DesignServer", "design_server", "serve"]

MAX_BODY = 64 * 1024
"""Largest request body (bytes)."""
_CLIENTS_KEPT = 1000
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src data: blob:; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_log = logging.getLogger(__name__)


class DesignServer(ThreadingHTTPServer):
    """The HTTP server of the design page: one computation at a time, stale requests skipped."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.compute_lock = threading.Lock()
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._latest_lock = threading.Lock()

    @property
    def url(self) -> str:
        """The page's address."""
        host, port = self.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}/"

    def note_request(self, client: str, seq: int) -> None:
        """Remember the newest request number of ``client``."""
        with self._latest_lock:
            self._latest[client] = max(seq, self._latest.get(client, seq))
            self._latest.move_to_end(client)
            while len(self._latest) > _CLIENTS_KEPT:
                self._latest.popitem(last=False)

    def superseded(self, client: str, seq: int) -> bool:
        """Whether ``client`` has sent a newer request than ``seq``."""
        with self._latest_lock:
            return self._latest.get(client, seq) > seq


def design_server(host: str = "127.0.0.1", port: int = 8765) -> DesignServer:
    """The server bound to ``host:port`` (port 0: any free port), not yet serving."""
    return DesignServer((host, port))


def serve(host: str = "127.0.0.1", port: int = 8765, *, open_browser: bool = True) -> int:
    """Serve the design page until interrupted; print its address (and open it in a browser)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError(f"port: must be a whole number from 0 to 65535, got {port!r}")
    try:
        server = design_server(host, port)
    except OSError as exc:
        raise InputError(f"port: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    print(f"dosefinding design page at {server.url} (Ctrl-C stops it)", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


class _Handler(BaseHTTPRequestHandler):
    server: DesignServer
    server_version = "dosefinding-design-app"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self._host_allowed():
            return
        if path in ("/", "/index.html"):
            page = resources.files("dosefinding.design.app").joinpath("static/index.html").read_bytes()
            self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
        elif path == "/api/shapes":
            self._json(HTTPStatus.OK, {"shapes": shape_catalogue(), "defaults": DEFAULTS})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self._host_allowed():
            return
        if path not in ("/api/design", "/api/spec"):
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})
            return
        body = self._body()
        if body is None:
            return
        seq, client = body.get("seq", 0), body.get("client", "")
        if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(client, str) or len(client) > 100:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "seq must be an integer and client a short string"})
            return
        if client:
            self.server.note_request(client, seq)
        with self.server.compute_lock:
            if client and self.server.superseded(client, seq):
                self._json(HTTPStatus.CONFLICT, {"seq": seq, "superseded": True})
                return
            status, answer = _answer(path, body.get("design"))
        self._json(status, {"seq": seq, **answer})

    def _host_allowed(self) -> bool:
        """Whether the request names this machine (a server on the loopback answers no other Host: a page of
        another site whose name resolves to 127.0.0.1, DNS rebinding, gets 403); answers 403 if not."""
        host = self.server.server_address[0]
        if host not in _LOOPBACK:
            return True
        port = self.server.server_address[1]
        if self.headers.get("Host", "") in {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}:
            return True
        self._json(HTTPStatus.FORBIDDEN, {"error": f"Host must be 127.0.0.1:{port} or localhost:{port}"})
        return False

    def _body(self) -> dict[str, Any] | None:
        """The JSON object of the request, or None after answering why it cannot be read."""
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send the design as application/json"})
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length needed"})
            return None
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"the body is limited to {MAX_BODY} bytes"})
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the body must be a JSON object"})
            return None
        return body

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload, allow_nan=False).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _answer(path: str, form: Any) -> tuple[HTTPStatus, dict[str, Any]]:
    """The status and JSON answer to a design; field errors as 400, anything unexpected as 500 (logged)."""
    try:
        design = read_design(form if form is not None else {})
        numbers = design_numbers(design)
        answer = {"numbers": numbers} if path == "/api/design" else {
            "toml": design_spec(design, numbers), "filename": f"{design.name}.toml"}
    except FieldErrors as exc:
        return HTTPStatus.BAD_REQUEST, {"errors": exc.errors}
    except InputError as exc:
        return HTTPStatus.BAD_REQUEST, {"errors": {error_field(str(exc)): str(exc)}}
    except Exception as exc:  # noqa: BLE001  (the page must get an answer, never a traceback; logged)
        _log.exception("design computation failed")
        return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error ({type(exc).__name__}): {exc}"}
    try:
        json.dumps(answer, allow_nan=False)
    except ValueError:
        _log.error("a number of the design is not finite: %r", form)
        return HTTPStatus.BAD_REQUEST, {"errors": {"design": "a number of this design is not finite (NaN or "
                                                             "infinity); check the inputs"}}
    return HTTPStatus.OK, answer
