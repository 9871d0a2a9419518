"""``client.responses``: the Responses API calls, written once for both clients.

=====================================  ===============================================
call                                   HTTP, retries
=====================================  ===============================================
``create(**fields)``                   ``POST /responses``; retried only when refused
``stream(**fields)``                   same, ``stream: true``; retried only while opening
``retrieve(response_id)``              ``GET /responses/{id}``; idempotent
``delete(response_id)``                ``DELETE /responses/{id}``; idempotent, 404 = gone
``input_items(response_id, ...)``      ``GET /responses/{id}/input_items``, one page
``all_input_items(response_id)``       every page, oldest first
=====================================  ===============================================

**No blind retries of POST /responses** (there is no idempotency key): it is retried
only when the request provably never left (connect failure), on 429 and on 403
``OperationDenied.InvalidState``. Any other failure raises with ``sent=True``; a
stream's errors also carry ``response_id`` from ``response.created``, so the caller can
retrieve or delete what may have been billed. Caching rules are checked before sending
(:mod:`ark_context._responses_requests`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, cast

import httpx
from typing_extensions import Required, TypedDict, Unpack

from ._errors_map import error_from_payload
from ._exceptions import ArkNotFoundError, ArkProtocolError
from ._flows import Flow, request
from ._parse import parse_model
from ._requests import Call, ClientConfig
from ._responses_models import (
    CachingParam,
    DeletedResponse,
    InputItem,
    InputItemList,
    ReasoningParam,
    Response,
    TextParam,
    ThinkingParam,
)
from ._responses_requests import create_call, input_items_call, response_call

__all__ = ["ResponseCreateParams", "Responses"]

_R = TypeVar("_R")
_S = TypeVar("_S")
_D = TypeVar("_D")
_P = TypeVar("_P")
_L = TypeVar("_L")


class ResponseCreateParams(TypedDict, total=False):
    """The fields of ``POST /responses`` (a field left out, or ``None``, is not sent)."""

    model: Required[str]
    input: Required[str | Sequence[Mapping[str, Any]]]
    previous_response_id: str | None
    instructions: str | None
    caching: CachingParam | None
    store: bool | None
    expire_at: int | None
    max_output_tokens: int | None
    temperature: float | None
    top_p: float | None
    thinking: ThinkingParam | None
    reasoning: ReasoningParam | None
    text: TextParam | None
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str | Mapping[str, Any] | None
    parallel_tool_calls: bool | None
    extra_body: Mapping[str, Any] | None
    """Extra request fields, sent as they are (no ``None``)."""
    request_id: str | None
    """Sent as ``X-Client-Request-Id``."""


class Responses(Generic[_R, _S, _D, _P, _L]):
    """The ``responses`` namespace of :class:`~ark_context.ArkContextClient` (results
    as they are) and :class:`~ark_context.AsyncArkContextClient` (awaitables).

    >>> from ark_context import ArkContextClient
    >>> client = ArkContextClient(api_key="k", base_url="http://127.0.0.1:8765/api/v3")
    >>> first = client.responses.create(  # doctest: +SKIP
    ...     model="doubao-seed-1-6-251015",
    ...     input=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    ...     caching={"type": "enabled"},
    ... )
    >>> second = client.responses.create(  # doctest: +SKIP
    ...     model="doubao-seed-1-6-251015", input="And then?",
    ...     previous_response_id=first.id, caching={"type": "enabled"},
    ... )
    """

    def __init__(self, run: Callable[[Flow[Any]], Any], cfg: ClientConfig, stream_cls: Any):
        self._run = run
        self._cfg = cfg
        self._stream_cls = stream_cls

    def create(self, **fields: Unpack[ResponseCreateParams]) -> _R:
        """``POST /responses``: the :class:`Response` (``status`` may be ``incomplete``;
        ``failed`` raises the mapped error with ``response_id``)."""
        return cast(_R, self._run(self._create(dict(fields), False)))

    def stream(self, **fields: Unpack[ResponseCreateParams]) -> _S:
        """``POST /responses`` with ``stream: true``: a :class:`ResponseStream`."""
        return cast(_S, self._run(self._create(dict(fields), True)))

    def retrieve(self, response_id: str, *, request_id: str | None = None) -> _R:
        """``GET /responses/{id}`` (no reasoning items; idempotent)."""
        return cast(_R, self._run(self._get(response_id, request_id)))

    def delete(self, response_id: str, *, request_id: str | None = None) -> _D:
        """``DELETE /responses/{id}``: :class:`DeletedResponse` (check ``deleted``); a 404
        means it was already gone (``deleted=True, already_gone=True``)."""
        return cast(_D, self._run(self._delete(response_id, request_id)))

    def input_items(
        self,
        response_id: str,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        include: Sequence[str] | None = None,
        request_id: str | None = None,
    ) -> _P:
        """One page of the chain's input items (:class:`InputItemList`); the server's
        defaults are ``limit=100``, ``order="desc"``; next page: ``after=page.last_id``."""
        kw = dict(after=after, before=before, limit=limit, order=order)
        return cast(_P, self._run(self._page(response_id, kw, include, request_id)))

    def all_input_items(
        self,
        response_id: str,
        *,
        order: Literal["asc", "desc"] = "asc",
        include: Sequence[str] | None = None,
        request_id: str | None = None,
    ) -> _L:
        """Every input item of the chain (all pages, 100 at a time)."""
        return cast(_L, self._run(self._all(response_id, order, include, request_id)))

    # -- flows ---------------------------------------------------------------------

    def _create(self, fields: dict[str, Any], stream: bool) -> Flow[Any]:
        extra = fields.pop("extra_body", None)
        rid = fields.pop("request_id", None)
        call = create_call(self._cfg, fields, stream=stream, request_id=rid, extra_body=extra)
        size = len(call.content or b"")
        if stream:
            opener = lambda r: self._stream_cls(r, size, call.chained)  # noqa: E731
            return (yield from request(call, self._cfg.max_retries, opener))
        obj = yield from request(call, self._cfg.max_retries, _response_parser(call))
        return _not_failed(obj)

    def _get(self, response_id: str, request_id: str | None) -> Flow[Response]:
        call = response_call(self._cfg, "GET", response_id, request_id)
        return (yield from request(call, self._cfg.max_retries, _response_parser(call)))

    def _delete(self, response_id: str, request_id: str | None) -> Flow[DeletedResponse]:
        call = response_call(self._cfg, "DELETE", response_id, request_id)
        parse = lambda r: parse_model(r, DeletedResponse, call, "deleted")  # noqa: E731
        try:
            return (yield from request(call, self._cfg.max_retries, parse))
        except ArkNotFoundError:
            return DeletedResponse(id=response_id, deleted=True, already_gone=True)

    def _page(
        self,
        response_id: str,
        kw: dict[str, Any],
        include: Sequence[str] | None,
        request_id: str | None,
    ) -> Flow[InputItemList]:
        call = input_items_call(
            self._cfg, response_id, include=include, request_id=request_id, **kw
        )
        parse = lambda r: parse_model(r, InputItemList, call, "data")  # noqa: E731
        return (yield from request(call, self._cfg.max_retries, parse))

    def _all(
        self, response_id: str, order: str, include: Sequence[str] | None, rid: str | None
    ) -> Flow[list[InputItem]]:
        items: list[InputItem] = []
        after: str | None = None
        while True:
            kw = dict(after=after, before=None, limit=100, order=order)
            page = yield from self._page(response_id, kw, include, rid)
            items.extend(page.data)
            if not page.has_more:
                return items
            if not page.last_id or page.last_id == after:
                raise ArkProtocolError(
                    "input_items says has_more but gives no new last_id to page from."
                )
            after = page.last_id


def _response_parser(call: Call) -> Callable[[httpx.Response], Response]:
    return lambda r: parse_model(r, Response, call, "id")


def _not_failed(obj: Response) -> Response:
    """Raise the mapped error (with ``response_id``) for a ``failed`` response. Outside
    the retry loop: the response exists, so it is never resent."""
    if obj.status != "failed":
        return obj
    err = obj.error
    exc = error_from_payload(
        {"code": err.code if err else None, "message": err.message if err else "failed"},
        status=0,
    )
    exc.response_id = obj.id or None
    raise exc
