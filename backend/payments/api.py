"""The Stripe webhook endpoint: the only route without a session or CSRF token; its signature is its credential."""

from __future__ import annotations

from litestar import Request, Router, post
from litestar.response import Response

from backend.errors import DomainError
from backend.http.errors import domain_error_as_json
from backend.payments import events


@post("/webhook", status_code=200, include_in_schema=False)
async def stripe_webhook(request: Request) -> Response[dict[str, str]]:
    received = await events.receive(await request.body(), request.headers.get("stripe-signature"))
    # Stripe retries anything but a 2xx; a repeat of a stored event is answered 200 and changes nothing.
    return Response({"received": received.event_id, "status": "stored" if received.new else "duplicate"})


def stripe_router() -> Router:
    return Router(path="/stripe", route_handlers=[stripe_webhook], exception_handlers={DomainError: domain_error_as_json})
