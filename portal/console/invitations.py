from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.response import Response

from backend.auth import service as auth
from backend.auth.principal import Audience
from backend.db.uow import all_tenants_unit_of_work
from backend.errors import DomainError, NotFound
from backend.http.auth import client_ip, session_cookie
from backend.i18n import gettext
from backend.tenants import service as tenants
from portal import web
from portal.console.sign_in import Form


def _no_referrer(response: Response) -> Response:
    # The token is in the path: keep it out of Referer headers sent to anything the page links to.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def _invitation_page(request: Request, token: str, *, error: DomainError | None = None) -> Response:
    """The form to join, or the invalid-link page when the token is unknown, used or expired."""
    async with all_tenants_unit_of_work("follow an invitation link") as session:
        found = await tenants.find_invitation(session, token)
    if found is None:
        return _no_referrer(web.render(request, "console/invitation_invalid.html", status_code=404))
    _membership, user, tenant = found
    return _no_referrer(
        web.render(
            request,
            "console/invitation.html",
            status_code=422 if error else 200,
            token=token,
            user=user,
            tenant=tenant,
            error=error and {"field": error.field, "message": gettext(error.message)},
            existing=user.password_hash is not None,
        )
    )


class InvitationController(Controller):
    path = "/console/invitations"
    include_in_schema = False

    @get("/{token:str}")
    async def show(self, request: Request, token: str) -> Response:
        return await _invitation_page(request, token)

    @post("/{token:str}")
    async def accept(self, request: Request, token: str, data: Annotated[dict[str, str], Form]) -> Response:
        try:
            async with all_tenants_unit_of_work("accept an invitation") as session:
                tenant_id, user, role = await tenants.accept_invitation(
                    session,
                    token,
                    display_name=data.get("display_name", ""),
                    password=data.get("password", ""),
                    password_again=data.get("password_again", data.get("password", "")),
                )
        except NotFound:
            return _no_referrer(web.render(request, "console/invitation_invalid.html", status_code=404))
        except DomainError as error:
            return await _invitation_page(request, token, error=error)
        session_token = await auth.start_session(
            tenant_id, user, role, ip=client_ip(request.scope), user_agent=request.headers.get("user-agent")
        )
        return web.redirect(request, "/console", cookies=[session_cookie(Audience.CONSOLE, session_token)])
