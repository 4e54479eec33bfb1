from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.response import Response

from backend.auth import service as auth
from backend.auth.principal import Audience
from backend.db.uow import all_tenants_unit_of_work
from backend.errors import DomainError, NotFound
from backend.http.auth import session_cookie
from backend.i18n import gettext
from backend.tenants import service as tenants
from portal import web
from portal.console.sign_in import Form

# The token is in the path: keep it out of Referer headers sent to anything the page links to.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


class InvitationController(Controller):
    path = "/console/invitations"
    include_in_schema = False

    @get("/{token:str}")
    async def show(self, request: Request, token: str) -> Response:
        async with all_tenants_unit_of_work("follow an invitation link") as session:
            found = await tenants.find_invitation(session, token)
        if found is None:
            response = web.render(request, "console/invitation_invalid.html", status_code=404)
        else:
            _membership, user, tenant = found
            response = web.render(
                request,
                "console/invitation.html",
                token=token,
                user=user,
                tenant=tenant,
                error=None,
                existing=user.password_hash is not None,
            )
        response.headers.update(NO_REFERRER)
        return response

    @post("/{token:str}")
    async def accept(self, request: Request, token: str, data: Annotated[dict[str, str], Form]) -> Response:
        try:
            async with all_tenants_unit_of_work("accept an invitation") as session:
                tenant_id, user = await tenants.accept_invitation(
                    session,
                    token,
                    display_name=data.get("display_name", ""),
                    password=data.get("password", ""),
                    password_again=data.get("password_again", data.get("password", "")),
                )
        except NotFound:
            response = web.render(request, "console/invitation_invalid.html", status_code=404)
            response.headers.update(NO_REFERRER)
            return response
        except DomainError as error:
            async with all_tenants_unit_of_work("follow an invitation link") as session:
                found = await tenants.find_invitation(session, token)
            if found is None:  # expired or used between showing the form and sending it
                response = web.render(request, "console/invitation_invalid.html", status_code=404)
                response.headers.update(NO_REFERRER)
                return response
            _membership, user, tenant = found
            response = web.render(
                request,
                "console/invitation.html",
                status_code=422,
                token=token,
                user=user,
                tenant=tenant,
                error={"field": error.field, "message": gettext(error.message)},
                existing=user.password_hash is not None,
            )
            response.headers.update(NO_REFERRER)
            return response
        membership_role = await auth.resolve_role(tenant_id, user.id)
        session_token = await auth.start_session(
            tenant_id,
            user,
            membership_role,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
        return web.redirect(request, "/console", cookies=[session_cookie(Audience.CONSOLE, session_token)])
