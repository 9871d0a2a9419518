"""The public Context API methods, written once for both clients.

Each method builds a flow (:mod:`ark_context._flows`) and hands it to ``_run``: the sync
client executes it and returns the result, the async client returns an awaitable. The
type parameters say what each method returns in either shell (``ChatCompletion`` or
``Awaitable[ChatCompletion]``), so mypy checks both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import httpx

from ._flows import Flow, request
from ._models import ChatCompletion, ContextInfo
from ._parse import parse_model
from ._requests import Call, ClientConfig, chat_call, create_context_call

if TYPE_CHECKING:
    from ._responses_api import Responses

__all__ = ["ContextMethods"]

_Ctx = TypeVar("_Ctx")
_Comp = TypeVar("_Comp")
_Strm = TypeVar("_Strm")


def _completion(call: Call) -> Callable[[httpx.Response], ChatCompletion]:
    return lambda r: parse_model(r, ChatCompletion, call, "choices")


class ContextMethods(Generic[_Ctx, _Comp, _Strm]):
    """``create_context``, ``chat``, ``chat_stream``, ``chat_completions``,
    ``chat_completions_stream``; retry rules in :mod:`ark_context.policy`."""

    _cfg: ClientConfig
    _stream_cls: Any  # ChatStream or AsyncChatStream
    _responses: Any = None

    def _run(self, flow: Flow[Any]) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self._cfg.describe(type(self).__name__)

    @property
    def base_url(self) -> str:
        """The API base URL in use."""
        return self._cfg.base_url

    @property
    def max_retries(self) -> int:
        """Retries for retryable errors (see :mod:`ark_context.policy`)."""
        return self._cfg.max_retries

    def _responses_api(self, stream_cls: Any) -> Responses[Any, Any, Any, Any, Any]:
        """The ``responses`` namespace (built on first use: its models load lazily)."""
        if self._responses is None:
            from ._responses_api import Responses

            self._responses = Responses(self._run, self._cfg, stream_cls)
        return self._responses  # type: ignore[no-any-return]

    def _chat(
        self,
        where: str,
        context_id: str | None,
        model: str,
        messages: Any,
        params: dict[str, Any],
        stream: bool,
        idempotent: bool,
        request_id: str | None,
        include_usage: bool = False,
    ) -> Flow[Any]:
        """The flow of one chat call: build (lazily, on the first step), send, parse."""
        call = chat_call(
            self._cfg, where, context_id, model, messages, params, stream=stream,
            idempotent=idempotent, include_usage=include_usage, request_id=request_id,
        )  # fmt: skip
        if call.stream:
            n = len(call.content or b"")
            ctx = call.context_call
            return (yield from request(call, self._cfg.max_retries, self._opener(n, ctx)))
        return (yield from request(call, self._cfg.max_retries, _completion(call)))

    def _opener(self, size: int, context_call: bool) -> Any:
        return lambda response: self._stream_cls(response, size, context_call)

    def _create(self, *args: Any) -> Flow[ContextInfo]:
        call = create_context_call(self._cfg, *args)
        parse = lambda r: parse_model(r, ContextInfo, call)  # noqa: E731
        return (yield from request(call, self._cfg.max_retries, parse))

    # -- public API ----------------------------------------------------------------

    def create_context(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        mode: str | None = None,
        ttl: int | None = None,
        truncation_strategy: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> _Ctx:
        """POST /context/create (idempotent: every retryable error is retried)."""
        flow = self._create(model, messages, mode, ttl, truncation_strategy, request_id)
        return cast(_Ctx, self._run(flow))

    def chat(
        self,
        *,
        context_id: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        idempotent: bool = False,
        request_id: str | None = None,
        **params: Any,
    ) -> _Comp:
        """POST /context/chat/completions. ``idempotent=False`` (session mode): retry only
        errors raised before the request was sent. ``idempotent=True`` (common_prefix):
        also retry timeouts, dropped connections, 429, 5xx and 403 InvalidState."""
        flow = self._chat(
            "chat", context_id, model, messages, params, False, idempotent, request_id
        )
        return cast(_Comp, self._run(flow))

    def chat_stream(
        self,
        *,
        context_id: str,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        idempotent: bool = False,
        include_usage: bool = True,
        request_id: str | None = None,
        **params: Any,
    ) -> _Strm:
        """Streaming :meth:`chat`; retries (by the same rules) only while opening."""
        flow = self._chat(
            "chat_stream", context_id, model, messages, params, True, idempotent, request_id,
            include_usage,
        )  # fmt: skip
        return cast(_Strm, self._run(flow))

    def chat_completions(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        request_id: str | None = None,
        **params: Any,
    ) -> _Comp:
        """POST /chat/completions (no context; idempotent)."""
        flow = self._chat(
            "chat_completions", None, model, messages, params, False, True, request_id
        )
        return cast(_Comp, self._run(flow))

    def chat_completions_stream(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        include_usage: bool = True,
        request_id: str | None = None,
        **params: Any,
    ) -> _Strm:
        """Streaming :meth:`chat_completions`."""
        flow = self._chat(
            "chat_completions_stream", None, model, messages, params, True, True, request_id,
            include_usage,
        )  # fmt: skip
        return cast(_Strm, self._run(flow))
