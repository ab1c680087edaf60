"""The Entra ID + Microsoft Graph HTTPS server (threaded, 127.0.0.1) with fault injection and counters.

One server answers both the login host (``/<tenant>/v2.0/.well-known/openid-configuration``,
``/<tenant>/oauth2/v2.0/token``) and the Graph host (``/v1.0/...``): point ``authority_host`` and
``graph_endpoint`` at ``base_url``. Every request loads the shared state file and writes it back only when it
changed, so the Exchange simulator (or a test) sees Entra's objects as they are.

Faults (``inject``) are kept in memory, matched by method and a regular expression on the path, and consumed
``count`` times. A dropped connection closes the socket without an HTTP answer:
``action="drop_before"`` drops before the request is processed (nothing written),
``action="drop_after"`` processes the request (the write IS applied) and then drops the answer.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import graph, tokens

DEFAULT_FAULT_TEXT = {
    401: ("InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."),
    403: ("Authorization_RequestDenied", graph.INSUFFICIENT),
    404: ("Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present."),
    429: ("TooManyRequests", "Please retry again later."),
    500: ("generalException", "General exception while processing."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
    504: ("serviceNotAvailable", "The gateway timed out."),
}


@dataclass
class Fault:
    method: str = "*"
    path: str = ".*"
    status: int | None = None
    count: int = 1
    retry_after: int | None = None
    action: str = "respond"  # respond | drop_before | drop_after
    code: str | None = None
    message: str | None = None
    hits: int = 0
    pattern: Any = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.method in ("*", method) and self.pattern.search(path) is not None


class EntraServer:
    """``EntraServer(store, pki, host="127.0.0.1", port=0)``; ``start()``, ``stop()``, ``base_url``, ``port``."""

    def __init__(self, store, pki, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.store = store
        # Seconds slept before answering each request (benchmarks: Graph round trip).
        self.latency = latency
        self.pki = pki
        self.host = host
        self._requested_port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self.counters: collections.Counter[str] = collections.Counter()
        self.log: list[dict[str, Any]] = []
        # Every request with its kind (token, openid, graph) and start time, like WSManServer.requests (benchmarks).
        self.requests: list[dict[str, Any]] = []

    # --- life cycle -------------------------------------------------------------------------------------------
    def start(self) -> "EntraServer":
        handler = type("BoundEntraHandler", (_Handler,), {"sim": self})
        httpd = ThreadingHTTPServer((self.host, self._requested_port), handler)
        httpd.daemon_threads = True
        httpd.socket = self.pki.server_context().wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="entra-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    # --- faults and counters ----------------------------------------------------------------------------------
    def inject(
        self,
        method: str = "*",
        path: str = ".*",
        status: int | None = None,
        count: int = 1,
        retry_after: int | None = None,
        action: str = "respond",
        code: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Add a fault. ``method`` is an HTTP method or ``*``; ``path`` a regex searched in the URL path."""
        if action not in ("respond", "drop_before", "drop_after"):
            raise ValueError(f"unknown fault action {action!r}")
        if action == "respond" and status is None:
            raise ValueError("a responding fault needs a status")
        fault = Fault(method.upper() if method != "*" else "*", path, status, count, retry_after, action, code, message)
        fault.pattern = re.compile(path)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    fault.hits += 1
                    return fault
        return None

    # --- replication delay (Entra's eventual consistency, graph.py) ---------------------------------------------
    def set_replication_delay(self, seconds: float, tenant_id: str | None = None) -> None:
        """Objects created from now on stay unreplicated for ``seconds`` of the simulated clock (0: at once)."""
        with self.store.transaction() as state:
            for key, tenant in state["entra"]["tenants"].items():
                if tenant_id in (None, key):
                    graph.replication(tenant)["delay_seconds"] = float(seconds)

    def replicate_now(self, tenant_id: str | None = None) -> None:
        """Finish replicating every pending object (as if the delay had passed)."""
        with self.store.transaction() as state:
            for key, tenant in state["entra"]["tenants"].items():
                if tenant_id in (None, key):
                    graph.replication(tenant)["pending"] = {}

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def reset_counters(self) -> None:
        with self._lock:
            self.counters.clear()
            self.log.clear()
            self.requests.clear()


def _graph_error(status: int, code: str, message: str, request_id: str, client_request_id: str | None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }


class _Handler(BaseHTTPRequestHandler):
    sim: EntraServer
    protocol_version = "HTTP/1.1"
    server_version = "hybrid_sim-entra"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # --- plumbing ---------------------------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        sim = self.sim
        parts = urlsplit(self.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request_id = str(uuid.uuid4())
        client_request_id = self.headers.get("client-request-id")
        is_graph = path.startswith("/v1.0/") or path == "/v1.0"
        token_match = re.match(r"^/([^/]+)/oauth2/v2\.0/token$", path)
        oidc_match = re.match(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$", path)
        kind = "token" if token_match else "openid" if oidc_match else "graph" if is_graph else "other"
        with sim._lock:
            sim.requests.append({"method": method, "kind": kind, "path": path, "time": time.time()})
        if sim.latency:
            time.sleep(sim.latency)
        if token_match and method == "POST":
            sim.count("token_requests")
        elif oidc_match:
            sim.count("openid_configuration")
        elif is_graph:
            sim.count(f"graph_{method}")
        fault = sim._take_fault(method, path)
        if fault is not None and fault.action == "drop_before":
            sim.count("dropped")
            self._drop()
            return
        respond_fault = fault if fault is not None and fault.action == "respond" else None
        if respond_fault is not None:
            headers = {"request-id": request_id}
            if respond_fault.retry_after is not None:
                headers["Retry-After"] = str(respond_fault.retry_after)
            default_code, default_message = DEFAULT_FAULT_TEXT.get(respond_fault.status, ("UnknownError", "Injected fault."))
            code, message = respond_fault.code or default_code, respond_fault.message or default_message
            if token_match or oidc_match:
                body = {
                    "error": "temporarily_unavailable" if respond_fault.status >= 500 else "invalid_request",
                    "error_description": f"AADSTS50196: {message}",
                    "error_codes": [50196],
                }
            else:
                body = _graph_error(respond_fault.status, code, message, request_id, client_request_id)
            sim.log.append({"method": method, "path": path, "query": query, "status": respond_fault.status, "fault": True})
            self._send(respond_fault.status, body, headers)
            return
        status, body, headers = self._process(method, path, query, raw, token_match, oidc_match, request_id, client_request_id)
        if fault is not None and fault.action == "drop_after":
            sim.count("dropped")
            self._drop()
            return
        self._send(status, body, headers)

    def _process(self, method, path, query, raw, token_match, oidc_match, request_id, client_request_id):
        sim = self.sim
        base = sim.base_url
        if oidc_match and method == "GET":
            try:
                return 200, tokens.openid_configuration(sim.store.read(), base, oidc_match.group(1)), {}
            except tokens.TokenError as error:
                return error.status, error.body(base), {}
        if token_match and method == "POST":
            # Only the client id is logged: the form carries the secret or the assertion.
            state = sim.store.read()
            try:
                answer = tokens.issue_token(state, base, token_match.group(1), raw)
                client = dict(parse_qsl(raw.decode("utf-8"))).get("client_id")
                sim.log.append({"method": method, "path": path, "status": 200, "client_id": client})
                return 200, answer, {"Cache-Control": "no-store, no-cache"}
            except tokens.TokenError as error:
                sim.log.append({"method": method, "path": path, "status": error.status, "error_code": error.code})
                return error.status, error.body(base), {}
        if not path.startswith("/v1.0"):
            return 404, {"error": {"code": "BadRequest", "message": f"Invalid request path {path}"}}, {}
        headers = {"request-id": request_id, "client-request-id": client_request_id or request_id}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return 400, _graph_error(400, "BadRequest", "Unable to read JSON request payload.", request_id, client_request_id), headers
        entry = {"method": method, "path": path, "query": query, "body": body}
        sim.log.append(entry)
        with sim.store.transaction() as state:
            try:
                claims = tokens.validate_access_token(
                    state, self.headers.get("Authorization"), (base, "https://graph.microsoft.com")
                )
                tenant = state["entra"]["tenants"].get(claims.get("tid"))
                if tenant is None:
                    raise graph.GraphFailure(401, "InvalidAuthenticationToken", "Access token validation failure.")
                request = graph.GraphRequest(method, path, query, body, claims, base)
                status, answer = graph.handle(tenant, state, request)
            except tokens.GraphAuthError as error:
                status, answer = 401, _graph_error(401, "InvalidAuthenticationToken", error.message, request_id, client_request_id)
            except graph.GraphFailure as failure:
                # a failed request must not leave half a change behind
                state.clear()
                state.update(sim.store._load())
                status, answer = failure.status, _graph_error(failure.status, failure.code, failure.message, request_id, client_request_id)
        entry["status"] = status
        return status, answer, headers
