from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Response

from backend.auth import service as auth
from backend.auth.principal import Audience
from backend.errors import DomainError, Throttled
from backend.http.auth import client_ip, expired_session_cookie, session_cookie
from backend.i18n import current_language, gettext, normalise
from portal import web

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class SignInController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/sign-in")
    async def form(self, request: Request, next: str | None = None) -> Response:
        if request.scope.get("user"):
            return web.redirect(request, web.safe_next(next))
        return web.render(request, "console/sign_in.html", next=web.safe_next(next), email="", error=None)

    @post("/sign-in")
    async def submit(self, request: Request, data: Annotated[dict[str, str], Form]) -> Response:
        email, target = data.get("email", ""), web.safe_next(data.get("next"))
        try:
            signed_in = await auth.sign_in(
                email,
                data.get("password", ""),
                ip=client_ip(request.scope),
                user_agent=request.headers.get("user-agent"),
            )
        except DomainError as error:
            status = 429 if isinstance(error, Throttled) else 400
            response = web.render(
                request, "console/sign_in.html", status_code=status, next=target, email=email, error=gettext(error.message)
            )
            if isinstance(error, Throttled):
                response.headers["Retry-After"] = str(error.retry_after)
            return response
        cookies = [session_cookie(Audience.CONSOLE, signed_in.token)]
        if signed_in.language:
            cookies.append(web.language_cookie(signed_in.language))
        return web.redirect(request, target, cookies=cookies)

    @post("/sign-out")
    async def sign_out(self, request: Request) -> Response:
        await auth.sign_out(request.scope.get("state", {}).get("session_token"))
        return web.redirect(request, "/console/sign-in", cookies=[expired_session_cookie(Audience.CONSOLE)])

    @post("/switch")
    async def switch(self, request: Request, data: Annotated[dict[str, str], Form]) -> Response:
        principal = request.scope.get("user")
        if principal is None:
            return web.redirect(request, "/console/sign-in")
        token = await auth.switch_tenant(
            principal,
            data.get("organisation", ""),
            token=request.scope.get("state", {}).get("session_token"),
            ip=client_ip(request.scope),
            user_agent=request.headers.get("user-agent"),
        )
        return web.redirect(request, "/console", cookies=[session_cookie(Audience.CONSOLE, token)])


@post("/language", include_in_schema=False)
async def set_language(request: Request, data: Annotated[dict[str, str], Form]) -> Response:
    language = normalise(data.get("language")) or current_language.get()
    principal = request.scope.get("user")
    if principal is not None:
        await auth.set_language(principal, language)
    return web.redirect(request, web.safe_next(data.get("next"), "/console"), cookies=[web.language_cookie(language)])
