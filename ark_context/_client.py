"""The sync client (:class:`ArkContextClient`): an I/O shell around the shared core.

What lives where:

* request building: :mod:`ark_context._requests` (Context API) and
  :mod:`ark_context._responses_requests` (Responses API, with the caching rules);
* the send/parse/retry flow, once for both clients: :mod:`ark_context._flows`;
* retry decisions and backoff: :mod:`ark_context.policy`;
* response parsing: :mod:`ark_context._parse`; streams: :mod:`ark_context._streams`;
* the public methods, once for both clients: :mod:`ark_context._api` (Context API) and
  :mod:`ark_context._responses_api` (``client.responses``).

What the router relies on:

* ``create_context`` -> :class:`ContextInfo`; ``chat`` / ``chat_completions`` ->
  :class:`ChatCompletion`; ``chat_stream`` / ``chat_completions_stream`` ->
  :class:`ChatStream` (async: :class:`AsyncChatStream`).
* **Request size**: every returned ``ContextInfo`` / ``ChatCompletion`` has a
  ``request_bytes`` property (not a wire field) with the size of the JSON body sent;
  streams have a ``request_bytes`` attribute.
* **Retries** (``max_retries``, default 2): ``create_context`` and ``chat_completions``
  are idempotent. ``chat(..., idempotent=False)`` (session mode, the default) is retried
  only when the request provably never left (:class:`ArkConnectionError` with
  ``sent=False``); ``idempotent=True`` (common_prefix) also retries timeouts, dropped
  connections, 429, 5xx and 403 ``InvalidState``. A stream is retried only while it is
  being opened (error status before any event), never after an event was yielded.
  Backoff: full jitter, 0.5 s doubling up to 8 s; ``Retry-After`` (seconds or HTTP date)
  wins, capped at 60 s.
* **Errors**: see :mod:`ark_context._errors_map`. 404, or a "context not found/expired"
  message, on ``/context/chat/completions`` is :class:`ArkContextGoneError`.
* **Pools**: clients with the same ``(base_url, timeout)`` share one ``httpx`` pool per
  process (per event loop for async); the key is sent per request. Pass ``http_client``
  to use your own (it is never closed by this library).
* A stream abandoned early must be closed (``close()`` or ``with``) to release its
  connection; the sync stream also closes itself when garbage-collected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from typing_extensions import Unpack

from ._api import ContextMethods
from ._async_client import AsyncArkContextClient
from ._exceptions import ArkConfigError
from ._flows import Flow, run_sync
from ._models import ChatCompletion, ContextInfo
from ._requests import ClientConfig, ClientSettings
from ._streams import AsyncChatStream, ChatStream
from ._transport import shared_client
from ._validation import DEFAULT_BASE_URL

if TYPE_CHECKING:
    from ._responses_api import Responses
    from ._responses_models import DeletedResponse, InputItem, InputItemList, Response
    from ._responses_stream import ResponseStream

__all__ = [
    "DEFAULT_BASE_URL",
    "ArkContextClient",
    "AsyncArkContextClient",
    "AsyncChatStream",
    "ChatStream",
]


class ArkContextClient(ContextMethods[ContextInfo, ChatCompletion, ChatStream]):
    """Sync client for ``/context/create``, ``/context/chat/completions``,
    ``/chat/completions`` and (as ``client.responses``) ``/responses``.

    >>> client = ArkContextClient(api_key="k", base_url="http://127.0.0.1:8765/api/v3")
    >>> client
    ArkContextClient(base_url='http://127.0.0.1:8765/api/v3', timeout=60.0, max_retries=2)
    """

    _stream_cls = ChatStream

    def __init__(
        self,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], Any] | None = None,
        share_pool: bool = True,
        **settings: Unpack[ClientSettings],
    ) -> None:
        """``api_key`` falls back to ``ARK_API_KEY`` (ArkConfigError naming it when missing);
        ``base_url`` to ``ARK_BASE_URL``, then :data:`DEFAULT_BASE_URL`. ``http_client`` is
        used as given and never closed (it keeps its own timeout). ``share_pool=False``
        gives this client a private pool that :meth:`close` closes. ``sleep`` replaces
        ``time.sleep`` (tests)."""
        self._cfg = ClientConfig.of(type(self).__name__, settings)
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise ArkConfigError(
                f"http_client must be an httpx.Client; got {type(http_client).__name__} "
                "(use AsyncArkContextClient for an httpx.AsyncClient)."
            )
        self._injected = http_client is not None
        self._shared = http_client is None and share_pool
        if http_client is not None:
            self._http = http_client
        elif share_pool:
            self._http = shared_client(self._cfg.pool_key)
        else:
            self._http = httpx.Client(timeout=self._cfg.timeout)
        self._sleep: Callable[[float], Any] = sleep or time.sleep

    def _client(self) -> httpx.Client:
        http = self._http
        if self._shared and http.is_closed:  # the shared pools were closed (tests, shutdown)
            http = self._http = shared_client(self._cfg.pool_key)
        return http

    def _run(self, flow: Flow[Any]) -> Any:
        return run_sync(flow, self._client(), self._sleep)

    @property
    def responses(
        self,
    ) -> Responses[Response, ResponseStream, DeletedResponse, InputItemList, list[InputItem]]:
        """The Responses API calls (see :class:`ark_context.Responses`)."""
        from ._responses_stream import ResponseStream

        return self._responses_api(ResponseStream)

    def close(self) -> None:
        """Close a private pool (``share_pool=False``); shared and injected pools stay open."""
        if not self._injected and not self._shared:
            self._http.close()

    def __enter__(self) -> ArkContextClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
