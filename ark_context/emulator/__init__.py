"""A local Ark Context API server for tests, demos and notebooks.

It implements ``POST /context/create``, ``POST /context/chat/completions`` and
``POST /chat/completions`` under ``/api/v3`` on its own (it imports nothing from the
``ark_context`` client), with deterministic replies and token counts, full inspection of what
the "model" saw, and fault injection. Needs the ``emulator`` extra (starlette, uvicorn).

>>> from ark_context.emulator import run_emulator
>>> with run_emulator() as emu:  # doctest: +SKIP
...     print(emu.base_url)        # http://127.0.0.1:<free port>/api/v3
...     # point any Ark client at emu.base_url, then inspect emu.contexts(), emu.records()

``Emulator().app`` is the ASGI app, so ``httpx.ASGITransport(app=emu.app)`` works too (use a
base URL ending in ``/api/v3``). From a shell: ``ark-context emulator [--host] [--port 8765]``.

Auth
    ``Authorization: Bearer <key>``. ``Emulator(api_keys=None)`` accepts any non-empty key;
    a collection accepts only those. Otherwise 401 ``AuthenticationError``.

Token counting (deterministic)
    Text tokens: each CJK character is one token, each run of other letters/digits/underscore
    is one token, each punctuation or symbol character is one token; whitespace is free.
    A message costs its text tokens plus ``MESSAGE_OVERHEAD`` (3). ``prompt_tokens`` covers
    the whole effective prompt (context part + messages sent); ``cached_tokens`` is the part
    served from the context; ``completion_tokens`` counts the reply text (no overhead).
    ``/context/create`` returns ``prompt_tokens`` = tokens of the initial messages, cached 0.

Contexts
    Ids look like ``ctx-YYYYMMDDhhmmss-<8 hex>``. ``ttl`` (int or numeric string, default
    86400) must lie in [3600, 604800]. Every use (a processed chat) restarts the ttl; a context
    idle for more than ttl seconds on the emulator clock (``clock=`` callable plus
    ``advance_clock``) is gone: 404 ``NotFound.Context`` "The specified context ctx-... is not
    found or expired". ``session`` appends the messages sent and the reply (only on success,
    or when a fault says the request was applied); ``common_prefix`` never changes. A chat on
    a session context while another is in flight (latency, streaming) gets 403
    ``OperationDenied.InvalidState`` "...invalid state: InProgress". The chat's ``model``
    must equal the context's model (else 400 ``InvalidParameter``, param ``model``).

Truncation (session only; any ``truncation_strategy`` with ``common_prefix`` is a 400)
    The leading system messages given at create are pinned and never dropped; everything
    after them (other initial messages, then turns) is history, dropped oldest first, whole
    messages. ``last_history_tokens: N`` keeps history at most N tokens (checked at create and
    after each turn is appended). ``rolling_tokens: true`` (the default strategy when omitted,
    ``max_window_tokens`` = the model window, ``rolling_window_tokens`` = 4096): while the
    prompt exceeds ``max_window_tokens``, drop about ``rolling_window_tokens`` of the oldest
    history. ``rolling_tokens: false``: nothing is dropped; the reply is cut to the room left
    in ``max_window_tokens`` with ``finish_reason: "length"``.

Validation (400)
    Missing ``model``/``messages``/``context_id`` -> ``MissingParameter.<field>``; explicit
    JSON nulls count as unset everywhere (the official SDK sends them). Bad values ->
    ``InvalidParameter`` with ``param``. On context chat: last message with role assistant;
    ``tools``/``tool_choice``/``function_call``/``functions``/``response_format``/``thinking``
    -> ``InvalidParameter.UnsupportedParameter``; a prompt over the model window
    (``Emulator(model_window=32768)``) -> ``OutofContextError``.

Replies
    The default responder depends only on the effective prompt:
    ``"[saw 5 messages, 123 tokens, 100 cached] echo: <last user text>"``. Pass
    ``Emulator(responder=fn)``, ``fn(messages, params) -> str`` (see ``Responder``) to script
    replies. ``stop`` cuts at the first stop string (not included); ``max_tokens`` (default
    4096) and the window cut by tokens with ``finish_reason: "length"``. Streams send one SSE
    chunk per ``chunk_tokens`` tokens (first has ``delta.role``, last has ``finish_reason``),
    then the usage chunk (``choices: []``) when ``stream_options.include_usage``, then
    ``data: [DONE]``. ``chunk_delay`` (seconds) slows streams; ``latency`` delays every
    completion (the context is InProgress meanwhile). ``sleep=`` makes waiting injectable.

Request ids
    Every response, errors included, carries ``X-Request-Id``; error messages end with
    ``Request id: <id>``. An incoming ``X-Client-Request-Id`` (printable ASCII, <= 128 chars)
    becomes the request id and is echoed back as ``X-Client-Request-Id``.

Records (``emu.records(path=None)``, ``emu.completions()``)
    One dict per API request, oldest first: ``seq, request_id, path, context_id, mode, model,
    stream, messages`` (the exact effective prompt), ``from_context`` (leading messages that
    came from the context), ``sent, reply, finish_reason, usage, dropped`` (history messages
    truncation dropped), ``applied`` (the turn was appended / the context was created),
    ``status`` (HTTP status the client got; None when the connection was dropped), ``error``
    (code), ``fault`` (kind or None), ``cut`` (stream cut), ``outcome``
    (``ok|error|fault|cancelled``). Kept: the last ``max_records`` (10000).

Faults (``emu.inject_fault(path, kind, times=1, ...)``; path ``/context/create``,
``/context/chat/completions``, ``/chat/completions`` or ``"*"``; FIFO, one per request)
    ``status`` (``status=429|500|502|403|404|...``, optional ``code``, ``message``,
    ``retry_after``; 429 sends ``Retry-After: 1``): answered with an Ark error body.
    ``apply=False`` (default) = the request was not processed at all; ``apply=True`` = it was
    processed (turn appended, context created) and then the error was returned (the
    "unknown outcome" case). ``drop``: the connection is closed without any HTTP response
    (clients see a connection error, e.g. ``httpx.RemoteProtocolError``; in-process through
    ``ASGITransport`` a ``ConnectionResetError``); ``apply=True`` by default (worst case).
    ``latency`` (``seconds=``): added before the reply, context InProgress meanwhile.
    ``cut_stream`` (``after_chunks=k``, streaming requests only): the turn is appended, k SSE
    events are sent, then the connection is closed without ``[DONE]``. Every stream appends
    its turn before the first chunk, so an abandoned stream counts as applied too.

Admin endpoints (JSON, no auth, outside ``/api/v3``)
    ``GET /_emulator/health``; ``GET /_emulator/contexts`` (with transcripts),
    ``GET /_emulator/contexts/{id}``; ``DELETE /_emulator/contexts`` or
    ``POST /_emulator/contexts/forget`` (server restart); ``GET|DELETE /_emulator/records``
    (``?path=``); ``GET /_emulator/clock``, ``POST /_emulator/clock/advance {"seconds": n}``;
    ``GET|POST|DELETE /_emulator/faults`` (POST body = ``Fault`` fields);
    ``POST /_emulator/reset`` (contexts, records, faults).
"""

from ._common import API_PATHS
from ._emulator import Emulator
from ._errors import EmulatorError
from ._faults import Fault
from ._responder import FunctionCall, Reply, Responder, echo_responder
from ._runner import run_emulator, serve
from ._tokens import MESSAGE_OVERHEAD, count_tokens, message_tokens

__all__ = [
    "API_PATHS",
    "MESSAGE_OVERHEAD",
    "Emulator",
    "EmulatorError",
    "Fault",
    "FunctionCall",
    "Reply",
    "Responder",
    "count_tokens",
    "echo_responder",
    "message_tokens",
    "run_emulator",
    "serve",
]
