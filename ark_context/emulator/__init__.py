"""A local Ark server (Context API and Responses API) for tests, demos and notebooks.

It implements ``POST /context/create``, ``POST /context/chat/completions``,
``POST /chat/completions``, ``POST /responses`` (plain and SSE), ``GET|DELETE
/responses/{id}`` and ``GET /responses/{id}/input_items`` under ``/api/v3`` on its own (it
imports nothing from the ``ark_context`` client), with deterministic replies and token
counts, full inspection of what the "model" saw, and fault injection. Needs the ``emulator``
extra (starlette, uvicorn). The official SDK (``volcengine-ark-runtime``) works against it
unchanged (``client.responses.create/retrieve/delete``, ``client.input_items.list``).

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
    ``Emulator(responder=fn)``, ``fn(messages, params) -> str`` (see ``Responder``; the
    Responses API also takes ``FunctionCall`` replies) to script replies. ``stop`` cuts at the first stop string (not included); ``max_tokens`` (default
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

Faults (``emu.inject_fault(path, kind, times=1, ...)``; path one of ``API_PATHS`` or
``"*"``; FIFO, one per request)
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
    ``stream_error`` (``after_chunks=k``, streaming requests only; ``status``/``code``/
    ``message`` pick the error): k events, then a mid-stream error message, then ``[DONE]``;
    the turn is appended (Context API) or the response failed (Responses API, below).

Responses API (``POST /responses``; the readings taken where the docs are silent or
contradict themselves are marked "reading", numbered as in the project's unknowns table)
    Ids: ``resp_<request-id-like>``; items ``msg_``/``fc_``/``fco_``/``rs_``, calls ``call_``.
    ``input`` is a string (one user message) or items: ``message`` (roles system, user,
    assistant, developer; text, or parts ``input_text``/``input_image``/``input_video``/
    ``input_file``/``output_text``), ``function_call``, ``function_call_output`` (its
    ``call_id`` must name an earlier call of the chain, else 400); ``reasoning`` items sent back
    are ignored. Explicit JSON nulls count as unset (the SDK sends them; reading #7: a null
    ``thinking`` equals an absent one). Tokens: a context item costs ``MESSAGE_OVERHEAD`` plus
    its text (function calls: name and arguments; outputs: the output); images are free;
    ``instructions`` cost as a system message; tool declarations are free.
    ``usage.input_tokens`` is the whole transcript, ``output_tokens`` the reply (and the
    reasoning summary), without the overhead; ``cached_tokens`` is the part read from the cache.

    Chains: ``previous_response_id`` continues from a stored response: the model sees every
    alive turn of its chain (inputs and outputs, never reasoning), then this ``input``;
    ``instructions`` come first and are not inherited. Any stored response may be branched
    from, any number of times. Not found, deleted, expired, ``store: false`` or failed
    responses: 404 ``NotFound.Response`` "The specified response ... is not found or expired."
    (reading #1). Reading #5: a chain whose start expired is gone too (404, naming the
    ancestor), since a turn's content does not outlive its ancestors. Reading #15: another
    ``model`` than the chain's is a 400. The docs advise ~100 ms between chained calls ("否则
    可能会导致调用失败"); ``Emulator(chain_gap=0.1)`` makes a request that chains from a
    response completed less than that ago (emulator clock) a 400 (default 0: off). A response being streamed is InProgress (403
    ``OperationDenied.InvalidState`` on GET or chaining) until its stream ends.

    Session caching (``caching: {"type": "enabled"}``): a turn writes its whole transcript and
    its reply (never reasoning) to the cache only when every earlier turn of its chain wrote
    (one turn without caching stops writes for the rest of that branch), its ``thinking``
    equals the previous turn's, and it has no ``instructions``. A turn reads (``cached_tokens``)
    what the deepest writing ancestor holds, when its ``thinking`` equals its parent's and it
    has no ``instructions`` (reading #7: a thinking mismatch is a silent miss, not an error).
    DELETE removes a turn from every chain through it: later turns no longer see it, read only
    up to it, and are written again by the next caching turn.

    Prefix caching (``caching: {"type": "enabled", "prefix": true}``): no reply (``output``
    empty, ``output_tokens`` 0), the id is fixed and reusable by any number of calls (with or
    without ``caching``; same ``thinking`` to read it). Reading #16: at least
    ``prefix_min_tokens`` (1025: "more than 1024") input tokens.

    Rules that fail with 400 (code ``InvalidParameter`` with ``param`` unless said): caching
    with ``instructions``, or in a chain that used them (the documented message "The parameter
    `instructions` specified in the request are not valid: caching is not supported for
    instructions."); ``store: false`` with caching; ``tools`` on any turn after the first of a
    chain that cached (later turns inherit the first turn's tools, which go when it is
    deleted); non-function tools with caching; ``text.format`` ``json_schema`` after a caching
    turn (``json_object`` is fine); a prefix cache that is short or streamed; ``partial``
    (prefill) with caching; a chain over ``max_chain_items`` (1000) items; with caching, a
    transcript over ``response_window`` (262144) minus ``max_output_tokens`` (400
    ``OutofContextError``: the cache is never truncated); without, over the window;
    ``reasoning.effort`` other than minimal with thinking disabled; Chat-shaped tools or
    ``json_schema`` (``{"function": ...}``, ``{"json_schema": ...}``).

    ``expire_at`` (UTC seconds): default created + ``expire_default`` (259200, 3 days). Reading
    #4: at most created + ``expire_max`` (604800, 7 days, the create API's range) for a turn
    without caching, created + ``caching_expire_max`` (259200, the caching pages' "at most 3
    days") for a caching turn; outside ``(created, max]`` is a 400, never clamped. A fixed
    deadline on the emulator clock, never extended by use. All three are ``Emulator`` settings.

    Replies: the same responder as the Context API (``messages`` = the transcript above). It
    returns text, or ``FunctionCall(name, arguments)`` (or a list of them) to answer with
    ``function_call`` items (``call_id``, ``name``, JSON ``arguments``); the next turn sends
    ``function_call_output``. The default responder echoes, except: ``tool_choice`` naming a
    function (or ``required``) calls it with arguments valid for its ``parameters``, unless
    the last item is a function output; ``text.format`` ``json_object`` gives ``{"answer":
    echo}``; ``json_schema`` a value valid for the schema. ``thinking: {"type": "enabled"}``
    adds a ``reasoning`` item first (summary "Thinking about: <last user text>") and
    ``reasoning_tokens``; ``auto`` and ``disabled`` do not. ``max_output_tokens`` (default
    32768) covers reasoning and answer; a cut reply is ``status: "incomplete"``,
    ``incomplete_details: {"reason": "length"}``, and is stored. GET omits reasoning items.

    Streams: ``data: <event>`` messages (no ``event:`` lines), each with ``type`` and
    ``sequence_number`` (0, 1, ...): ``response.created``, ``response.in_progress``, per output
    item ``output_item.added``, then the reasoning summary / content part / function-call
    argument events with deltas of ``chunk_tokens`` tokens, ``output_item.done``; then one
    terminal ``response.completed`` or ``response.incomplete`` (the only event with usage);
    then ``data: [DONE]``.

    ``GET /responses/{id}/input_items``: the chain's items (earlier turns' inputs and outputs,
    then this turn's inputs; no reasoning), ``order`` desc (default) or asc, ``limit`` 1..100
    (default 100), ``after``/``before`` item ids, ``has_more``, ``first_id``, ``last_id``;
    images bare unless ``include[]=message.input_image.image_url``. DELETE answers
    ``{"id", "object": "response", "deleted": true}``.

    Inspection: ``emu.responses()`` / ``emu.response(id)`` (``messages`` the model saw,
    ``output``, ``usage``, ``cached_tokens`` a chained turn would read, ``cache_tokens`` held,
    ``token_hours`` of storage until ``expire_at`` or deletion, started hours rounded up),
    ``emu.storage()`` (totals, including deleted and expired responses' bills),
    ``emu.response_records()``. Records of ``/responses`` add ``response_id``,
    ``previous_response_id``, ``output`` (``reply`` = the message text, ``finish_reason`` = the
    status, ``mode`` = ``caching``/``prefix``/None); GET/DELETE/input_items are recorded under
    ``/responses/{id}`` and ``/responses/{id}/input_items``. Faults target those paths too
    (``/responses``: all kinds; the others: ``status``, ``drop``, ``latency``). A response cut
    by ``cut_stream`` or ``drop`` is stored (its id reached the client only in
    ``response.created``, if at all); ``stream_error`` (``after_chunks=k``) sends k events then
    ``{"type": "error", "code", "message", "param", "sequence_number"}`` and ``[DONE]``, and
    the response is failed: not stored. On chat streams ``stream_error`` sends a Chat-style
    ``data: {"error": {...}}`` message instead.

Admin endpoints (JSON, no auth, outside ``/api/v3``)
    ``GET /_emulator/health``; ``GET /_emulator/contexts`` (with transcripts),
    ``GET /_emulator/contexts/{id}``; ``DELETE /_emulator/contexts`` or
    ``POST /_emulator/contexts/forget`` (server restart); ``GET|DELETE /_emulator/records``
    (``?path=``); ``GET /_emulator/clock``, ``POST /_emulator/clock/advance {"seconds": n}``;
    ``GET|POST|DELETE /_emulator/faults`` (POST body = ``Fault`` fields);
    ``GET|DELETE /_emulator/responses``, ``GET /_emulator/responses/{id}``,
    ``GET /_emulator/storage``; ``POST /_emulator/reset`` (contexts, responses, records,
    faults).
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
