"""Stripe, offline: `localstripe` (a local Stripe-compatible server) behind a small fake at the HTTP boundary.

localstripe serves customers, payment methods, payment intents, products and refunds. It has no
Checkout Sessions, Prices, Billing Portal sessions or dispute evidence; `StripeFake` answers those
itself, exactly at the HTTP level the SDK speaks (form-encoded bodies, `Idempotency-Key` and
`Stripe-Account` headers), records every request so tests can check what was sent, and passes every
other path through to localstripe. Webhook payloads are signed with the Stripe library's own scheme.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import stripe

WEBHOOK_SECRET = "whsec_test_" + "a" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


def start_localstripe(log_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "localstripe"), "--port", str(port), "--from-scratch"], stdout=log, stderr=log
    )
    try:
        _wait_for(port)
    except RuntimeError:
        process.kill()
        raise RuntimeError("localstripe did not start: " + log_path.read_text()[-2000:]) from None
    return process, port


def decode_form(body: str) -> dict:
    """`a[b][0][c]=1` into {"a": {"b": [{"c": "1"}]}}, the way Stripe reads the SDK's form encoding."""
    result: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = result
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt = None if last else parts[i + 1]
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append({} if not (nxt or "").isdigit() else [])
                if last:
                    node[index] = value
                else:
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt.isdigit() else {})
    return result


@dataclass
class Request:
    method: str
    path: str
    params: dict
    headers: dict[str, str]


@dataclass
class StripeFake:
    """Checkout Sessions, Prices, Billing Portal sessions and dispute updates; everything else to localstripe."""

    localstripe_port: int | None = None
    requests: list[Request] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    prices: dict[str, dict] = field(default_factory=dict)
    disputes: dict[str, dict] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)
    accounts: dict[str, dict] = field(default_factory=dict)  # connected accounts (Stripe Connect)
    _replies: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    port: int = 0

    # --- what tests look at -----------------------------------------------------------------

    def sent(self, method: str, path_prefix: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- serving ------------------------------------------------------------------------------

    def start(self) -> StripeFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, content_type = fake.answer(self.command, self.path, raw, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, raw_path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        url = urlparse(raw_path)
        path = url.path
        is_form = "multipart" not in headers.get("Content-Type", "")
        params = decode_form(raw.decode() if is_form else "") if method == "POST" else decode_form(url.query)
        lower = {k.lower(): v for k, v in headers.items()}
        request = Request(method, path, params, lower)
        key = lower.get("idempotency-key")
        if method == "POST" and key and (method, path, key) in self._replies:
            status, body = self._replies[(method, path, key)]  # type: ignore[index]
            return status, body, "application/json"
        handled = self._own(request, raw)
        if handled is None:
            return self._pass_through(method, raw_path, raw, headers)
        self.requests.append(request)
        status, obj = handled
        body = json.dumps(obj).encode()
        if method == "POST" and key:
            self._replies[(method, path, key)] = (status, body)  # type: ignore[index]
        return status, body, "application/json"

    def _own(self, request: Request, raw: bytes) -> tuple[int, dict] | None:
        path, p = request.path, request.params
        account = request.headers.get("stripe-account")
        if path == "/v1/accounts" and request.method == "POST":
            found = self.add_account("acct_" + secrets.token_hex(8), charges_enabled=False, metadata=p.get("metadata") or {})
            return 200, found
        if m := re.fullmatch(r"/v1/accounts/([^/]+)", path):
            found = self.accounts.get(m[1])
            return (200, found) if found else (404, _missing("account", m[1]))
        if path == "/v1/account_links" and request.method == "POST":
            if p.get("account") not in self.accounts:
                return 400, _missing("account", p.get("account") or "")
            return 200, {
                "object": "account_link",
                "url": f"{self.base}/connect/onboarding/{p['account']}",
                "expires_at": int(time.time()) + 300,
                "created": int(time.time()),
            }
        if path == "/v1/checkout/sessions" and request.method == "POST":
            return 200, self._new_session(p, account)
        if m := re.fullmatch(r"/v1/checkout/sessions/([^/]+)", path):
            found = self.sessions.get(m[1])
            return (200, found) if found else (404, _missing("checkout.session", m[1]))
        if m := re.fullmatch(r"/v1/checkout/sessions/([^/]+)/expire", path):
            found = self.sessions.get(m[1])
            if not found:
                return 404, _missing("checkout.session", m[1])
            found["status"] = "expired"
            return 200, found
        if path == "/v1/prices" and request.method == "POST":
            price = {"id": "price_" + secrets.token_hex(8), "object": "price", **p}
            self.prices[price["id"]] = price
            return 200, price
        if path == "/v1/prices" and request.method == "GET":
            keys = p.get("lookup_keys") or []
            found = [price for price in self.prices.values() if not keys or price.get("lookup_key") in keys]
            return 200, {"object": "list", "data": found, "has_more": False, "url": "/v1/prices"}
        if path == "/v1/billing_portal/sessions" and request.method == "POST":
            portal_id = "bps_" + secrets.token_hex(8)
            return 200, {
                "id": portal_id,
                "object": "billing_portal.session",
                "customer": p.get("customer"),
                "return_url": p.get("return_url"),
                "url": f"{self.base}/billing/{portal_id}",
            }
        if m := re.fullmatch(r"/v1/disputes/([^/]+)", path):
            found = self.disputes.get(m[1])
            if not found:
                return 404, _missing("dispute", m[1])
            if request.method == "POST":
                found.setdefault("evidence", {}).update(p.get("evidence") or {})
                if p.get("submit") == "true":
                    found["status"] = "under_review"
                    found.setdefault("evidence_details", {})["submission_count"] = 1
                found["metadata"] = {**found.get("metadata", {}), **(p.get("metadata") or {})}
            return 200, found
        if path == "/v1/files" and request.method == "POST":
            file_id = "file_" + secrets.token_hex(8)
            obj = {"id": file_id, "object": "file", "purpose": "dispute_evidence", "size": len(raw)}
            self.files[file_id] = {**obj, "raw": len(raw)}
            return 200, obj
        return None

    def _new_session(self, p: dict, account: str | None) -> dict:
        session_id = "cs_test_" + secrets.token_hex(12)
        items = p.get("line_items") or []
        total = 0
        for item in items:
            data = item.get("price_data") or {}
            total += int(data.get("unit_amount") or 0) * int(item.get("quantity") or 1)
        obj = {
            "id": session_id,
            "object": "checkout.session",
            "mode": p.get("mode", "payment"),
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": total,
            "currency": (items[0].get("price_data") or {}).get("currency") if items else p.get("currency"),
            "client_reference_id": p.get("client_reference_id"),
            "customer": p.get("customer"),
            "customer_email": p.get("customer_email"),
            "metadata": p.get("metadata") or {},
            "payment_intent": None,
            "subscription": None,
            "success_url": p.get("success_url"),
            "cancel_url": p.get("cancel_url"),
            "line_items_sent": items,
            "account": account,
            "url": f"{self.base}/pay/{session_id}",
        }
        self.sessions[session_id] = obj
        return obj

    def _pass_through(self, method: str, raw_path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        if self.localstripe_port is None:
            return 404, json.dumps(_missing("path", raw_path)).encode(), "application/json"
        forward = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.localstripe_port}{raw_path}", data=raw or None, method=method, headers=forward
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get("Content-Type", "application/json")

    def add_account(self, account_id: str, *, charges_enabled: bool = True, metadata: dict | None = None) -> dict:
        """A connected account on Accord's platform, as Stripe would return it."""
        self.accounts[account_id] = {
            "id": account_id,
            "object": "account",
            "charges_enabled": charges_enabled,
            "details_submitted": charges_enabled,
            "metadata": metadata or {},
        }
        return self.accounts[account_id]

    # --- what Stripe would do when the buyer pays ----------------------------------------------

    def pay(self, session_id: str) -> dict:
        """The buyer completes the Checkout page: the session is complete and has a payment intent."""
        session = self.sessions[session_id]
        session.update(status="complete", payment_status="paid", payment_intent="pi_" + secrets.token_hex(12))
        return session


def _missing(kind: str, ident: str) -> dict:
    return {"error": {"type": "invalid_request_error", "message": f"No such {kind}: '{ident}'", "code": "resource_missing"}}


def event_payload(
    type_: str, obj: dict, *, account: str | None = None, created: int | None = None, event_id: str | None = None
) -> bytes:
    return json.dumps(
        {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2025-09-30.clover",
            "type": type_,
            "created": created or int(time.time()),
            "account": account,
            "livemode": False,
            "data": {"object": {k: v for k, v in obj.items() if k not in ("line_items_sent", "account")}},
        }
    ).encode()


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, *, timestamp: int | None = None) -> dict[str, str]:
    """The Stripe-Signature header for `payload`, made by the Stripe library's own scheme."""
    header = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}
