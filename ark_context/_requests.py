"""Request building (no I/O): validated client settings, one :class:`Call` per HTTP
request, and the bodies of the Context API calls.

A :class:`Call` says everything the shared flow (:mod:`ark_context._flows`) needs:
method, URL, body, headers, how safe it is to resend (:data:`~ark_context.policy.Safety`)
and how to read errors (context call, chained response id).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from typing_extensions import TypedDict

from ._exceptions import ArkConfigError, ArkInputError, ArkUnsupportedError, register_secret
from ._transport import drop_none, encode_body, messages_list, pool_key
from ._validation import DEFAULT_BASE_URL, check_base_url, check_truncation, check_ttl
from .policy import Safety, check_request_fields

__all__ = ["Call", "ClientConfig", "ClientSettings", "chat_call", "create_context_call"]

_USER_AGENT = "ark-context/0.1.0"
_CONTEXT_CHAT = "/context/chat/completions"


@dataclass(slots=True)
class Call:
    """One HTTP request and how to treat it."""

    method: str
    url: str
    content: bytes | None
    headers: Mapping[str, str]
    safety: Safety
    context_call: bool = False
    chained: str | None = None  # previous_response_id of a Responses call
    stream: bool = False
    params: Any = None  # query parameters (httpx QueryParamTypes)


class ClientSettings(TypedDict, total=False):
    """The settings both clients take (keyword arguments)."""

    api_key: str | None
    """Falls back to ``ARK_API_KEY`` (ArkConfigError naming it when missing)."""
    base_url: str | None
    """Falls back to ``ARK_BASE_URL``, then :data:`DEFAULT_BASE_URL`."""
    timeout: float | httpx.Timeout
    """Seconds (default 60) or an ``httpx.Timeout``."""
    max_retries: int
    """Retries of retryable errors (default 2; see :mod:`ark_context.policy`)."""
    default_headers: Mapping[str, str] | None
    """Extra headers on every request (not ``Authorization``)."""


class ClientConfig:
    """Validated settings shared by the sync and async clients."""

    __slots__ = ("api_key", "base_url", "headers", "max_retries", "pool_key", "timeout", "urls")

    @classmethod
    def of(cls, owner: str, settings: Mapping[str, Any]) -> ClientConfig:
        """Validate the keyword arguments a client was given."""
        for name in settings:
            if name not in ClientSettings.__optional_keys__:
                raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}")
        return cls(**settings)

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 60.0,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("ARK_API_KEY")
        if not key or not isinstance(key, str) or not key.strip():
            raise ArkConfigError(
                "No API key: pass api_key=... or set the ARK_API_KEY environment variable."
            )
        key = key.strip()
        register_secret(key)
        if any(c in key for c in "\r\n\0 "):
            raise ArkConfigError(
                "The API key (api_key / ARK_API_KEY) contains whitespace; check it."
            )
        url = base_url or os.environ.get("ARK_BASE_URL") or DEFAULT_BASE_URL
        if not isinstance(url, str):
            raise ArkConfigError(f"base_url must be a string; got {type(url).__name__}.")
        self.base_url = check_base_url(url)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float, httpx.Timeout)):
            raise ArkConfigError(
                f"timeout must be seconds (a number) or an httpx.Timeout; got {timeout!r}."
            )
        if not isinstance(timeout, httpx.Timeout) and timeout <= 0:
            raise ArkConfigError(f"timeout must be > 0 seconds; got {timeout!r}.")
        self.timeout = timeout
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ArkConfigError(f"max_retries must be an int >= 0; got {max_retries!r}.")
        self.max_retries = max_retries
        self.api_key = key
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        for name, value in (default_headers or {}).items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise ArkConfigError("default_headers must map str to str.")
            if name.lower() == "authorization":
                raise ArkConfigError(
                    "default_headers must not set Authorization; pass api_key instead."
                )
            headers[name] = value
        self.headers = headers
        self.pool_key = pool_key(self.base_url, timeout)
        self.urls = {
            "create": self.base_url + "/context/create",
            "context": self.base_url + _CONTEXT_CHAT,
            "plain": self.base_url + "/chat/completions",
            "responses": self.base_url + "/responses",
        }

    def describe(self, cls: str) -> str:
        t = self.timeout if not isinstance(self.timeout, httpx.Timeout) else self.timeout.read
        return f"{cls}(base_url={self.base_url!r}, timeout={t!r}, max_retries={self.max_retries})"

    def request_headers(self, request_id: str | None, stream: bool) -> Mapping[str, str]:
        if request_id is None and not stream:
            return self.headers
        headers = dict(self.headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        if request_id is not None:
            if (
                not isinstance(request_id, str)
                or not request_id
                or "\n" in request_id
                or "\r" in request_id
            ):
                raise ArkInputError("request_id must be a non-empty single-line string.")
            headers["X-Client-Request-Id"] = request_id
        return headers


def check_model(model: Any) -> None:
    if not isinstance(model, str) or not model:
        raise ArkInputError("model must be your Ark endpoint id, e.g. model='ep-2024...'.")


def create_context_call(
    cfg: ClientConfig,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    mode: str | None,
    ttl: int | None,
    truncation_strategy: Mapping[str, Any] | None,
    request_id: str | None,
) -> Call:
    """``POST /context/create`` (idempotent)."""
    check_model(model)
    body: dict[str, Any] = {"model": model, "messages": messages_list(messages, "create_context")}
    if mode is not None:
        if mode not in ("session", "common_prefix"):
            raise ArkConfigError(f"mode must be 'session' or 'common_prefix'; got {mode!r}.")
        body["mode"] = mode
    if ttl is not None:
        body["ttl"] = check_ttl(ttl)
    if truncation_strategy is not None:
        body["truncation_strategy"] = check_truncation(mode or "session", dict(truncation_strategy))
    headers = cfg.request_headers(request_id, False)
    content = encode_body(drop_none(body))
    return Call("POST", cfg.urls["create"], content, headers, "idempotent")


def chat_call(
    cfg: ClientConfig,
    where: str,
    context_id: str | None,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    *,
    stream: bool,
    idempotent: bool = True,
    include_usage: bool = False,
    request_id: str | None = None,
) -> Call:
    """A context chat (``context_id`` set) or plain chat completion."""
    check_model(model)
    if "stream" in params:
        raise ArkInputError(f"{where}: do not pass stream=...; call the *_stream method instead.")
    body: dict[str, Any] = {}
    if context_id is not None:
        if not isinstance(context_id, str) or not context_id:
            raise ArkInputError(
                f"{where}: context_id must be the id create_context returned (ctx-...)."
            )
        check_request_fields(params, where)
        if params.get("service_tier") == "auto":
            raise ArkUnsupportedError(
                f"{where}: service_tier='auto' is not supported on context chat; "
                "omit it or use 'default'."
            )
        body["context_id"] = context_id
    body["model"] = model
    body["messages"] = messages_list(messages, where)
    if params:
        body.update(params)
    if stream:
        body["stream"] = True
        if include_usage:
            opts = body.get("stream_options")
            body["stream_options"] = (
                {**opts, "include_usage": True}
                if isinstance(opts, Mapping)
                else {"include_usage": True}
            )
    headers = cfg.request_headers(request_id, stream)
    content = encode_body(drop_none(body))
    context = context_id is not None
    url = cfg.urls["context" if context else "plain"]
    safety: Safety = "idempotent" if idempotent else "unsent"
    return Call("POST", url, content, headers, safety, context_call=context, stream=stream)
