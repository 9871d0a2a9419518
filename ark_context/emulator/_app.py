"""The ASGI app: the APIs under ``/api/v3`` and the admin endpoints under ``/_emulator``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._admin import admin_routes, bind
from ._common import API_PREFIX, PATH_CHAT, PATH_CONTEXT_CHAT, PATH_CREATE, PATH_RESPONSES
from ._context_handlers import chat, context_chat
from ._context_handlers import create as create_context
from ._core import EmulatorCore
from ._errors import ApiError
from ._http import RAW_SEND, Receive, Scope, Send, error_response, request_ids
from ._responses_handlers import create as create_response
from ._responses_handlers import input_items, retrieve_or_delete


def build_app(core: EmulatorCore) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app serving ``core``."""

    async def unknown_api(request: Request) -> Response:
        rid, headers = request_ids(core, request)
        e = ApiError(
            404,
            "NotFound",
            f"The requested path {request.url.path} is not part of the emulated Ark API.",
        )
        return error_response(e, rid, headers)

    posts = {
        API_PREFIX + PATH_CONTEXT_CHAT: bind(core, context_chat),
        API_PREFIX + PATH_CREATE: bind(core, create_context),
        API_PREFIX + PATH_CHAT: bind(core, chat),
        API_PREFIX + PATH_RESPONSES: bind(core, create_response),
    }
    routes = [Route(path, fn, methods=["POST"]) for path, fn in posts.items()]
    routes.append(
        Route(
            API_PREFIX + "/responses/{response_id}",
            bind(core, retrieve_or_delete),
            methods=["GET", "DELETE"],
        )
    )
    routes.append(
        Route(
            API_PREFIX + "/responses/{response_id}/input_items",
            bind(core, input_items),
            methods=["GET"],
        )
    )
    routes.append(
        Route(
            API_PREFIX + "/{rest:path}",
            unknown_api,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        )
    )
    routes.extend(admin_routes(core))
    starlette = Starlette(routes=routes)

    # The hot POST endpoints skip Starlette's routing and middleware layers (a measurable
    # share of a request's cost); everything else, including errors, goes through Starlette.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND] = send
            handler = posts.get(scope["path"])
            if handler is not None and scope["method"] == "POST":
                response = await handler(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await starlette(scope, receive, send)

    return app
