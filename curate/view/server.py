"""The read-only HTTP server of `curate view`: the page, its assets, and a JSON API over the tables.

Standard library only (`http.server`, one thread per request): a local, single-user viewer needs
no framework, and every byte it answers is decided here. Rules:
- every request carries the one-time token (`?token=` once, then a SameSite=Strict cookie),
  else 403; a Host header other than the bound address is refused (DNS rebinding);
- files are served only from a fixed list of packaged assets and the MathJax folder of the
  installed `mathjax` package, resolved and checked to stay inside it, else 404; rows are
  reached by table name and position, never by a path from the request;
- nothing is written, nothing is executed; answers carry a Content-Security-Policy that allows
  only this server's own scripts, so even a mistake in escaping could not run a trace's script.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import secrets
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import polars as pl

from curate.errors import CurateError
from curate.rundir import RunDir
from curate.text.html import pygments_css
from curate.text.palette import verdict_css
from curate.view import detail, query
from curate.view.tables import open_path

ASSETS = ("app.js", "app.css")
COOKIE = "curate_view_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def mathjax_dir() -> Path | None:
    """The `es5` folder of MathJax from the installed `mathjax` package (django-static-mathjax)."""
    try:
        import mathjax
    except ImportError:
        return None
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    return folder if (folder / "tex-svg.js").exists() else None


class Viewer:
    """What the server serves: the tables under one path, and the token that guards them."""

    def __init__(self, path: str | Path, token: str | None = None):
        self.root, self.tables = open_path(path)
        self.run = self.root if RunDir.is_run(self.root) else None
        self.token = token or secrets.token_urlsafe(24)
        self.mathjax = mathjax_dir()


class Handler(BaseHTTPRequestHandler):
    viewer: Viewer
    server_version = "curate-view"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - quiet: the terminal shows the URL only
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
        if not self._token_ok(params):
            return self._error(HTTPStatus.FORBIDDEN, "missing or wrong token: open the URL `curate view` printed")
        try:
            self._route(unquote(url.path), params)
        except (query.QueryError, KeyError, ValueError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except CurateError as exc:
            self._error(HTTPStatus.BAD_REQUEST, exc.message)
        except pl.exceptions.PolarsError as exc:  # e.g. a filter value that does not fit the column
            self._error(HTTPStatus.BAD_REQUEST, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001 - answer, and keep serving; the terminal shows why
            sys.stderr.write(f"curate view: {self.path.split('?')[0]}: {type(exc).__name__}: {exc}\n")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error (see the terminal running curate view)")

    def do_POST(self):  # noqa: N802 - read-only
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "read-only")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _host_ok(self) -> bool:
        host, port = self.server.server_address[:2]
        allowed = {f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}
        return host in ("0.0.0.0", "::") or self.headers.get("Host", "") in allowed

    def _token_ok(self, params: dict) -> bool:
        given = params.get("token") or _cookie(self.headers.get("Cookie", ""), COOKIE)
        return bool(given) and hmac.compare_digest(given.encode(), self.viewer.token.encode())

    def _route(self, path: str, params: dict) -> None:
        if path == "/":
            return self._send(_page(self.viewer).encode(), "text/html; charset=utf-8", cookie=True)
        if path.startswith("/static/") and path[8:] in ASSETS:
            return self._send(resources.files("curate.view").joinpath("static", path[8:]).read_bytes(),
                              mimetypes.guess_type(path)[0] or "text/plain")
        if path == "/static/pygments.css":
            return self._send(pygments_css().encode(), "text/css")
        if path == "/static/palette.css":  # the verdict colours of the report and the charts
            return self._send(verdict_css(".badge").encode(), "text/css")
        if path.startswith("/mathjax/") and self.viewer.mathjax:
            return self._mathjax(path[len("/mathjax/"):])
        if path.startswith("/api/"):
            return self._send(json.dumps(self._api(path[5:], params), default=str).encode(), "application/json")
        self._error(HTTPStatus.NOT_FOUND, "not found")

    def _mathjax(self, relative: str) -> None:
        base = self.viewer.mathjax.resolve()
        target = (base / relative).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        self._send(target.read_bytes(), mimetypes.guess_type(target.name)[0] or "application/octet-stream")

    def _api(self, endpoint: str, params: dict):
        tables = self.viewer.tables
        if endpoint == "tables":
            viewer = self.viewer
            return {"root": viewer.root.name, "run": viewer.run is not None, "math": bool(viewer.mathjax),
                    "tables": [{"name": t.name, "rows": t.rows, "files": len(t.files)} for t in tables.values()]}
        table = tables[params.get("table", next(iter(tables)))]
        if endpoint == "rows":
            filters = {k[2:]: v for k, v in params.items() if k.startswith("f.") and v != ""}
            return query.page(table, filters=filters, search=params.get("q", ""), sort=params.get("sort", ""),
                              descending=params.get("desc") == "1", offset=int(params.get("offset", 0)),
                              limit=int(params.get("limit", 50)))
        if endpoint == "values":
            return query.values(table, params["column"])
        if endpoint == "row":
            return detail.row_detail(tables, table.name, int(params["row"]), self.viewer.run)
        if endpoint == "trace":
            return detail.trace_path(tables, params["trace_id"])
        raise KeyError(f"no endpoint {endpoint!r}")

    def _send(self, body: bytes, content_type: str, *, cookie: bool = False) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        if cookie:
            self.send_header("Set-Cookie", f"{COOKIE}={self.viewer.token}; HttpOnly; SameSite=Strict; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        self.end_headers()
        self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _page(viewer: Viewer) -> str:
    page = resources.files("curate.view").joinpath("static", "index.html").read_text()
    script = '<script src="/mathjax/tex-svg.js" defer></script>' if viewer.mathjax else ""
    return page.replace("<!--MATHJAX-->", script)


def make_server(viewer: Viewer, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server bound to `host:port` (port 0: a free one), not yet serving."""
    handler = type("ViewerHandler", (Handler,), {"viewer": viewer})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer, viewer: Viewer) -> str:
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={viewer.token}"


def serve_in_thread(viewer: Viewer, host: str = "127.0.0.1") -> tuple[ThreadingHTTPServer, str]:
    """Start serving on a free port in a daemon thread (tests, notebooks); returns the server and URL."""
    server = make_server(viewer, host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, url_of(server, viewer)
