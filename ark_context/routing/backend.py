"""The backend seam: how server-side conversation state is created, used and lost.

The flows never name an HTTP endpoint. They hold an opaque *state id* (a context id for
the Context API; a response id for the Responses API) and ask the backend, through the
``Create`` and ``Send`` operations, to create state from messages and to send a turn from
a state. What differs between Ark's two caching APIs is declared here, not forked in the
router (docs/architecture.md, "Backend seam"):

* ``mutable_state``: a Context API context moves on with every turn, so a session
  context must be *claimed* before use and is spent by a branch. A Responses API id is
  immutable: any recorded id whose transcript prefixes the history can be chained from.
* ``state_after_turn``: the id that names the transcript after a reply (the same
  context id; the new response id).
* ``is_gone`` / ``is_busy``: how the backend recognises state the server no longer knows
  (rebuild from history; nothing was appended) and state in use elsewhere.

>>> from ark_context.routing.backend import ContextAPIBackend
>>> b = ContextAPIBackend(model="ep-x", mode="session", ttl=3600, truncation_strategy=None,
...                       client_kwargs={"api_key": "k", "base_url": "http://127.0.0.1:1"})
>>> b.mutable_state, b.state_after_turn("ctx-1", None)
(True, 'ctx-1')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._client import ArkContextClient, AsyncArkContextClient
from .._exceptions import ArkContextBusyError, ArkContextGoneError

if TYPE_CHECKING:
    from .._messages import WireMessage
    from .._models import ContextInfo
    from .._route_types import MissReason, RouteInfo

__all__ = ["Backend", "CallSpec", "ContextAPIBackend", "Created", "LazyClients", "client_settings"]


@dataclass(frozen=True, slots=True)
class Created:
    """State the backend created: its id, the lifetime granted and the tokens billed."""

    state: str
    ttl: int | None = None  # seconds the server keeps it (None: the requested ttl)
    billed_tokens: int = 0  # prompt tokens the creation bills (they belong to this call)


@dataclass(slots=True)
class CallSpec:
    """Per-call wire settings, plus what the call measured (filled in by the drivers)."""

    params: dict[str, Any]
    request_id: str | None = None
    stream: bool = False
    include_usage: bool = False
    attempts: int = 1
    request_bytes: int = 0
    plain: MissReason | None = None  # send plain, for this reason (decided before routing)
    extra: Any = None  # backend-specific per-call state (the Responses backend's request)


class Backend(Protocol):
    """Server-side state for one (endpoint, model, mode). See the module docstring."""

    name: str
    mutable_state: bool

    def create(
        self, messages: list[WireMessage], call: CallSpec, *, shared: bool = False
    ) -> Created: ...
    async def acreate(
        self, messages: list[WireMessage], call: CallSpec, *, shared: bool = False
    ) -> Created: ...
    def send(
        self, state: str | None, messages: list[WireMessage], call: CallSpec, *, idempotent: bool
    ) -> object: ...
    async def asend(
        self, state: str | None, messages: list[WireMessage], call: CallSpec, *, idempotent: bool
    ) -> object: ...
    def state_after_turn(self, state: str, result: object) -> str: ...
    def is_gone(self, exc: BaseException) -> bool: ...
    def is_busy(self, exc: BaseException) -> bool: ...
    def deadline(self, state: str) -> float | None:
        """A fixed deadline the state carries (Responses ``expire_at``), or None (a
        sliding ttl: the router's own)."""
        ...


Given = tuple["ArkContextClient | None", "AsyncArkContextClient | None"]


class LazyClients:
    """A backend's sync and async clients, each built on first use (one per backend)."""

    def _clients(self, settings: Mapping[str, Any], http: tuple[Any, Any], given: Given) -> None:
        """``settings``: :func:`client_settings`; ``http``: the (sync, async) httpx
        clients to build on (None: the shared pools); ``given``: ready clients, or None."""
        self._client_kwargs = dict(settings)
        self._http_client, self._http_async_client = http
        self._client: ArkContextClient | None = given[0]
        self._async_client: AsyncArkContextClient | None = given[1]

    @property
    def client(self) -> ArkContextClient:
        if self._client is None:
            self._client = ArkContextClient(http_client=self._http_client, **self._client_kwargs)
        return self._client

    @property
    def async_client(self) -> AsyncArkContextClient:
        if self._async_client is None:
            self._async_client = AsyncArkContextClient(  # type: ignore[call-arg]
                http_client=self._http_async_client, **self._client_kwargs
            )
        return self._async_client


def client_settings(
    api_key: str,
    base_url: str,
    timeout: float,
    max_retries: int,
    default_headers: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The settings every client of a router is built with."""
    return {
        "api_key": api_key,
        "base_url": base_url,
        "timeout": timeout,
        "max_retries": max_retries,
        "default_headers": default_headers,
    }


class ContextAPIBackend(LazyClients):
    """The Context API (``/context/create`` + ``/context/chat/completions``): a context id
    is mutable state with a sliding ttl. Clients are built on first use."""

    name = "context"
    mutable_state = True

    def __init__(
        self,
        *,
        model: str,
        mode: str,
        ttl: int,
        truncation_strategy: dict[str, Any] | None,
        client_kwargs: Mapping[str, Any],
        http_client: Any = None,
        http_async_client: Any = None,
        client: ArkContextClient | None = None,
        async_client: AsyncArkContextClient | None = None,
    ) -> None:
        self.model = model
        self.mode = mode
        self.ttl = ttl
        self.truncation_strategy = truncation_strategy
        self._clients(client_kwargs, (http_client, http_async_client), (client, async_client))

    # -- requests ----------------------------------------------------------------------

    def _create_kwargs(
        self, messages: list[WireMessage], call: CallSpec, shared: bool
    ) -> dict[str, Any]:
        # A shared prefix is a common_prefix context; a session context (in session or
        # auto mode) grows with its conversation and carries the truncation strategy.
        return {
            "model": self.model,
            "messages": messages,
            "mode": "common_prefix" if shared else "session",
            "ttl": self.ttl,
            "truncation_strategy": None if shared else self.truncation_strategy,
            "request_id": call.request_id,
        }

    def _send_call(
        self, state: str | None, messages: list[WireMessage], call: CallSpec, idempotent: bool
    ) -> tuple[str, dict[str, Any]]:
        """Which client method a send uses, and its arguments (shared by sync and async)."""
        kw: dict[str, Any] = {"model": self.model, "messages": messages}
        kw["request_id"] = call.request_id
        if state is not None:
            kw["context_id"] = state
            kw["idempotent"] = idempotent
        if call.stream:
            kw["include_usage"] = call.include_usage
        kw.update(call.params)
        name = "chat" if state is not None else "chat_completions"
        return (name + "_stream" if call.stream else name), kw

    def create(
        self, messages: list[WireMessage], call: CallSpec, *, shared: bool = False
    ) -> Created:
        kw = self._create_kwargs(messages, call, shared)
        return _created(self.client.create_context(**kw))

    async def acreate(
        self, messages: list[WireMessage], call: CallSpec, *, shared: bool = False
    ) -> Created:
        client: Any = self.async_client
        return _created(await client.create_context(**self._create_kwargs(messages, call, shared)))

    def send(
        self, state: str | None, messages: list[WireMessage], call: CallSpec, *, idempotent: bool
    ) -> object:
        name, kw = self._send_call(state, messages, call, idempotent)
        result: object = getattr(self.client, name)(**kw)
        return result

    async def asend(
        self, state: str | None, messages: list[WireMessage], call: CallSpec, *, idempotent: bool
    ) -> object:
        name, kw = self._send_call(state, messages, call, idempotent)
        result: object = await getattr(self.async_client, name)(**kw)
        return result

    # -- what the flows need to know ---------------------------------------------------

    def state_after_turn(self, state: str, result: object) -> str:
        return state  # a context keeps its id as it grows

    def is_gone(self, exc: BaseException) -> bool:
        return isinstance(exc, ArkContextGoneError)

    def is_busy(self, exc: BaseException) -> bool:
        return isinstance(exc, ArkContextBusyError)

    def deadline(self, state: str) -> float | None:
        return None  # a sliding ttl


def _created(info: ContextInfo) -> Created:
    billed = info.usage.prompt_tokens if info.usage is not None else 0
    return Created(info.id, info.ttl, billed)


def stamp(route: RouteInfo, call: CallSpec) -> RouteInfo:
    """Copy what the call measured onto its route."""
    route.request_bytes = call.request_bytes
    route.attempts = call.attempts
    return route
