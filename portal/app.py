"""The one Litestar app: REST API, console pages (and later the buyer portal and insurer inbox).

This is the composition root of the web process: it wires backend's API and services to the pages,
and in the embedded default (no REDIS_URL) starts the in-process job runtime from workers/.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlalchemy.exc import IntegrityError

from backend.api import api_router, healthz, readiness
from backend.auth.principal import Audience
from backend.config import Settings, get_settings
from backend.db.engine import get_database
from backend.errors import Conflict, DomainError, NotFound
from backend.http.auth import AuthenticationMiddleware, audience_of
from backend.http.deps import DEPENDENCIES
from backend.http.errors import domain_error_as_json, invalid_input_as_json
from backend.i18n import _, gettext, ngettext
from backend.payments.api import stripe_router
from portal import web
from portal.buyer.access import PortalAccessController
from portal.buyer.account import PortalAccountController
from portal.buyer.common import PORTAL_DEPENDENCIES
from portal.buyer.disputes import PortalDisputesController
from portal.buyer.notifications import PortalNotificationController, UnsubscribeController
from portal.buyer.pages import PortalPagesController
from portal.buyer.payments import PortalPaymentsController
from portal.console import api_keys, audit_trail, home, invitations, sign_in, team
from portal.console.billing import BillingController
from portal.console.buyers import BuyerController
from portal.console.card_disputes import CardDisputeController
from portal.console.dispute_case import DisputeCaseController
from portal.console.dispute_settings import DisputeSettingsController
from portal.console.disputes import DisputeInboxController
from portal.console.imports import ImportPageController
from portal.console.invoice_checks import InvoiceChecksController
from portal.console.invoice_forms import InvoiceFormController
from portal.console.invoices import InvoiceController
from portal.console.notifications import NotificationController
from portal.console.payments import PaymentSettingsController
from portal.console.portal_settings import PortalSettingsController
from portal.console.statements import StatementPageController

HERE = Path(__file__).resolve().parent
log = logging.getLogger("accord.web")


def _templates() -> TemplateConfig:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(gettext, ngettext, newstyle=True)
    environment.filters.update(local_time=web.local_time, number=web.number, role_label=web.role_label, changes=web.changes)
    environment.filters.update(money=web.money, local_date=web.local_date)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _is_portal(request: Request) -> bool:
    return audience_of(request.url.path) is Audience.PORTAL


def _error_page(request: Request, error, *, not_found: bool, **context) -> Response:
    if _is_portal(request):
        template = "buyer/404.html" if not_found else "buyer/error.html"
        return web.render(request, template, status_code=error.status_code, error=error, brand=None, **context)
    template = "errors/404.html" if not_found else "errors/error.html"
    return web.render(request, template, status_code=error.status_code, error=error, **context)


def _not_signed_in(request: Request, error: NotAuthorizedException) -> Response:
    if _is_api(request):
        return Response({"status_code": 401, "detail": error.detail}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if _is_portal(request):
        return web.redirect(
            request, f"/portal/sign-in?next={quote(target, safe='/')}" if target != "/portal" else "/portal/sign-in"
        )
    return web.redirect(
        request, f"/console/sign-in?next={quote(target, safe='/')}" if target != "/console" else "/console/sign-in"
    )


def _http_error(request: Request, error: HTTPException) -> Response:
    if _is_api(request) or request.url.path.startswith("/schema"):
        return Response(
            invalid_input_as_json(error.status_code, error.detail, getattr(error, "extra", None)), status_code=error.status_code
        )
    return _error_page(request, error, not_found=error.status_code == 404)


def _domain_error(request: Request, error: DomainError) -> Response:
    if _is_api(request):
        return domain_error_as_json(request, error)
    return _error_page(request, error, not_found=isinstance(error, NotFound), message=error.translated(gettext))


def _conflicting_write(request: Request, error: IntegrityError) -> Response:
    # A check-then-insert raced another request (the same document number, customer number or setting
    # at the same moment): the database's unique key refused the second; nothing of it was kept.
    log.info("unique key refused a concurrent write on %s: %s", request.url.path, error.orig)
    return _domain_error(request, Conflict(_("Someone else made the same change at the same moment. Reload and try again.")))


def create_app(settings: Settings | None = None, *, run_jobs: bool | None = None) -> Litestar:
    settings = settings or get_settings()
    run_jobs = settings.jobs_in_process if run_jobs is None else run_jobs

    @asynccontextmanager
    async def lifespan(app: Litestar):
        runtime = None
        if run_jobs:
            from workers.runtime import JobRuntime

            runtime = JobRuntime(with_scheduler=True)
            runtime.start()
            log.info("jobs run in this process (no REDIS_URL)")
        app.state.job_runtime = runtime
        try:
            yield
        finally:
            if runtime:
                runtime.stop()
            await get_database().dispose_current()

    async def broker_ping() -> bool:
        if settings.jobs_in_process:
            return True
        from workers.broker import ping

        return await ping()

    static = create_static_files_router(path="/static", directories=[HERE / "static"], name="static", include_in_schema=False)
    return Litestar(
        route_handlers=[
            api_router(),
            stripe_router(),
            healthz,
            readiness(broker_ping),
            static,
            home.root,
            sign_in.SignInController,
            home.HomeController,
            team.TeamController,
            api_keys.ApiKeyController,
            invitations.InvitationController,
            audit_trail.AuditTrailController,
            BuyerController,
            StatementPageController,
            ImportPageController,
            InvoiceFormController,
            InvoiceController,
            InvoiceChecksController,
            DisputeInboxController,
            DisputeCaseController,
            CardDisputeController,
            DisputeSettingsController,
            PortalSettingsController,
            PaymentSettingsController,
            BillingController,
            sign_in.set_language,
            PortalAccessController,
            PortalAccountController,
            PortalPagesController,
            PortalDisputesController,
            NotificationController,
            PortalNotificationController,
            UnsubscribeController,
            PortalPaymentsController,
        ],
        dependencies={**DEPENDENCIES, **PORTAL_DEPENDENCIES},
        middleware=[AuthenticationMiddleware(), web.WebContextMiddleware()],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="__Host-csrftoken",
            cookie_secure=True,
            cookie_httponly=True,
            cookie_samesite="lax",
            header_name="x-csrftoken",
            # API calls authenticate with a bearer key, which a browser never attaches by itself; Stripe's
            # webhook with its signature over the body.
            # The unsubscribe link's signed token is its credential: a mail client's one-click POST (RFC 8058)
            # carries neither cookie nor form token.
            exclude=["^/api/", "^/stripe/webhook$", "^/healthz$", "^/readyz$", "^/unsubscribe/[^/]+$"],
        ),
        template_config=_templates(),
        exception_handlers={
            NotAuthorizedException: _not_signed_in,
            HTTPException: _http_error,
            NotFoundException: _http_error,
            DomainError: _domain_error,
            IntegrityError: _conflicting_write,
        },
        openapi_config=OpenAPIConfig(
            title="Accord API",
            version="1",
            path="/schema",
            # Rendered as documents, not a JavaScript viewer: viewers load from CDNs the CSP (and we) refuse.
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"]), YamlRenderPlugin()],
            components=Components(
                security_schemes={"apiKey": SecurityScheme(type="http", scheme="bearer", description="An Accord API key: acc_…")}
            ),
            security=[{"apiKey": []}],
        ),
        lifespan=[lifespan],
        debug=False,
    )
