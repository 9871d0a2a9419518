"""The request flow, written once (sans-IO), and the two drivers that execute it.

A flow is a generator that yields operations and receives their results:

* :class:`Send` -> the ``httpx.Response`` (streamed when ``call.stream``); a transport
  failure is thrown into the flow as the mapped :class:`ArkError`;
* :class:`Sleep` -> ``None`` after waiting;
* :class:`Discard` -> ``None`` after reading the rest of a streamed response and closing it.

:func:`request` holds the one implementation of send, check, parse and retry (the
decision and the backoff come from :mod:`ark_context.policy`). :func:`run_sync` and
:func:`run_async` only perform the operations; the client shells pass their pool and
``sleep``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any, NamedTuple, TypeVar

import httpx

from ._errors_map import from_transport_error
from ._exceptions import ArkError
from ._parse import error_for, is_event_stream, stream_open_error
from ._requests import Call
from .policy import backoff_delay, is_retryable

__all__ = ["Discard", "Flow", "Send", "Sleep", "request", "run_async", "run_sync"]

_log = logging.getLogger("ark_context")
_T = TypeVar("_T")


class Send(NamedTuple):
    call: Call


class Sleep(NamedTuple):
    seconds: float


class Discard(NamedTuple):
    response: httpx.Response


Op = Send | Sleep | Discard
Flow = Generator[Op, Any, _T]


def request(call: Call, max_retries: int, parse: Callable[[httpx.Response], _T]) -> Flow[_T]:
    """Send ``call``, retrying what :func:`~ark_context.policy.is_retryable` allows for
    its safety; return ``parse(response)`` (for a stream: once the event stream opened)."""
    attempt = 0
    while True:
        try:
            response: httpx.Response = yield Send(call)
            if not call.stream:
                if response.status_code >= 300:
                    raise error_for(response, call)
                return parse(response)
            if is_event_stream(response):
                return parse(response)
            yield Discard(response)
            raise stream_open_error(response, call)
        except ArkError as exc:
            if attempt >= max_retries or not is_retryable(exc, safety=call.safety):
                raise
            delay = backoff_delay(attempt, getattr(exc, "retry_after", None))
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug(
                    "ark_context retry %d in %.2fs after %s on %s: %s",
                    attempt + 1,
                    delay,
                    type(exc).__name__,
                    call.url,
                    exc.message[:200],
                )
            yield Sleep(delay)
            attempt += 1


def _failure(exc: httpx.HTTPError) -> ArkError:
    err = from_transport_error(exc)
    err.__cause__ = exc
    return err


def _step(flow: Flow[Any], value: Any, error: ArkError | None) -> tuple[bool, Any]:
    """Advance ``flow``: ``(False, next operation)`` or ``(True, its result)``."""
    try:
        return False, (flow.send(value) if error is None else flow.throw(error))
    except StopIteration as stop:
        return True, stop.value


def run_sync(flow: Flow[_T], http: httpx.Client, sleep: Callable[[float], Any]) -> _T:
    """Execute ``flow`` with a sync pool."""
    done, op = _step(flow, None, None)
    while not done:
        value: Any = None
        error: ArkError | None = None
        if isinstance(op, Send):
            c = op.call
            req = http.build_request(
                c.method, c.url, content=c.content, headers=c.headers, params=c.params
            )
            try:
                value = http.send(req, stream=c.stream)
            except httpx.HTTPError as exc:
                error = _failure(exc)
        elif isinstance(op, Sleep):
            sleep(op.seconds)
        else:
            try:
                op.response.read()
            except httpx.HTTPError as exc:
                error = _failure(exc)
            finally:
                op.response.close()
        done, op = _step(flow, value, error)
    return op  # type: ignore[no-any-return]


async def run_async(
    flow: Flow[_T], http: httpx.AsyncClient, sleep: Callable[[float], Awaitable[Any]]
) -> _T:
    """Execute ``flow`` with an async pool."""
    done, op = _step(flow, None, None)
    while not done:
        value: Any = None
        error: ArkError | None = None
        try:
            if isinstance(op, Sleep):
                await sleep(op.seconds)
            elif isinstance(op, Discard):
                try:
                    await op.response.aread()
                finally:
                    await op.response.aclose()
            else:
                call = op.call
                value = await http.send(
                    http.build_request(
                        call.method,
                        call.url,
                        content=call.content,
                        headers=call.headers,
                        params=call.params,
                    ),
                    stream=call.stream,
                )
        except httpx.HTTPError as exc:
            error = _failure(exc)
        done, op = _step(flow, value, error)
    return op  # type: ignore[no-any-return]
