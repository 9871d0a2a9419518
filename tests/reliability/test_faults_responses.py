"""The fault matrix of ``test_faults.py`` on the Responses API (a current model).

Same adapters, entry points, scenario and checks (``run_scenario``, one-connection pools,
recorded sleeps), with the checks of this API: every response the model produced for a
call saw exactly the caller's conversation (its full transcript, parent chain included,
as the emulator recorded it); the call after the fault chains from the last response the
caller got (``previous_response_id``); the final response's transcript is the
conversation and its output the reply.

The router's clock is the emulator's (``emu.now``), so a clock jump moves both, as time
passing does; the chain gap is 0 (the emulator releases a response before its client can
see the end, so no real waits are needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from langchain_core.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelRateLimitError,
    ModelTimeoutError,
)

from ark_context import (
    ArkConnectionError,
    ArkContextBusyError,
    ArkRateLimitError,
    ArkServerError,
    ArkTimeoutError,
)
from ark_context.conversation import to_input_items
from tests.reliability.test_faults import (
    TTL,
    ContextApi,
    Fault,
    Kit,
    _cases,
    _chat_fault,
    _one_backoff,
    run_scenario,
)

pytestmark = pytest.mark.integration

MODEL = "doubao-seed-1-6-251015"
PATH = "/responses"


@pytest.fixture(scope="module")
def _own_emulator() -> Any:
    # A module-private server: the rows jump its clock (and the routers' clock with it).
    from ark_context.emulator import run_emulator

    with run_emulator() as e:
        yield e


@pytest.fixture
def emu(_own_emulator: Any) -> Any:
    _own_emulator.reset()
    yield _own_emulator
    _own_emulator.reset()


def seen(item: Mapping[str, Any]) -> dict[str, Any]:
    """An input item as the emulator's transcript shows it (ids and text parts folded)."""
    out = {k: v for k, v in item.items() if k not in ("id", "status", "type")}
    if item.get("type") not in (None, "message"):
        out["type"] = item["type"]
    content = out.get("content")
    if isinstance(content, list):
        out["content"] = "".join(p.get("text", "") for p in content)
    return out


def transcript(conv: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [seen(i) for i in to_input_items([dict(m) for m in conv])]


def response_records(emu: Any, rid: str) -> list[dict[str, Any]]:
    return [r for r in emu.records(PATH) if r.get("request_id") == rid]


class ResponsesApi(ContextApi):
    name = "responses"
    model = MODEL
    path = PATH

    def tune(self, kit: Kit, emu: Any) -> None:
        router = kit.llm.ark_router()
        assert router.api == "responses"
        router.clock = emu.now
        router._cfg = replace(router._cfg, clock=emu.now)
        router.backend._clock = emu.now
        router.backend.chain_gap = 0.0

    def served(self, emu: Any, rid: str, conv: Sequence[Mapping[str, str]]) -> list[Any]:
        want = transcript(conv)
        ran = [r for r in response_records(emu, rid) if r.get("reply") is not None or r["applied"]]
        for r in ran:
            got = [seen(i) for i in r["messages"]]
            assert got == want, (
                f"response {r['response_id']} for {rid} saw {len(got)} items, "
                f"the caller had {len(want)}: a turn was duplicated or lost\n{got}\n{want}"
            )
        return ran

    def reply(self, emu: Any, rid: str) -> str:
        ok = [
            r
            for r in response_records(emu, rid)
            if r["status"] == 200 and not r.get("fault") and r.get("reply") is not None
        ]
        assert ok, f"no successful response recorded for {rid}"
        return str(ok[-1]["reply"])

    def settle(self, emu: Any, timeout: float = 5.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while any(r["in_progress"] for r in emu.responses()):
            assert time.monotonic() < deadline, "the emulator never finished a response"
            time.sleep(0.02)

    def holds(self, emu: Any, meta: Mapping[str, Any], conv: Sequence[Mapping[str, str]]) -> None:
        snap = emu.response(meta["response_id"])
        assert snap is not None, f"response {meta['response_id']} is gone"
        assert [seen(i) for i in snap["messages"]] == transcript(conv[:-1])
        texts = [o for o in snap["output"] if o["type"] == "message"]
        assert texts[0]["content"][0]["text"] == conv[-1]["content"]

    def continues(self, before: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        assert meta["previous_response_id"] == before["response_id"]


RESPONSES = ResponsesApi()


def _fault(kind: str, **options: Any) -> Any:
    return _chat_fault(kind, path=PATH, **options)


def _raises(name: str, arrange: Any, error: tuple[type, type | None], **kw: Any) -> Fault:
    return Fault(name, arrange, outcome=None, error=error, **kw)


SERVER = (ArkServerError, ModelAPIError)
CONNECTION = (ArkConnectionError, ModelConnectionError)

# A POST /responses has no idempotency key: after a 5xx, a dropped connection or a read
# timeout a response may have been created (and billed) unseen, so the caller gets the
# typed error (ark-responses-api.md section 7, rule 12); the next call chains from the
# last response the caller got. 429 and 403 InvalidState were refused: retried.
FAULTS = [
    _raises("500", _fault("status", status=500), SERVER),
    _raises("500-applied", _fault("status", status=500, apply=True), SERVER),
    _raises("502-applied", _fault("status", status=502, apply=True), SERVER),
    Fault(
        "429-retry-after",
        _fault("status", status=429),
        outcome="reused",
        reason=None,
        sleeps=lambda s: s == [1.0],
    ),
    Fault(
        "403-invalid-state",
        _fault("status", status=403, code="OperationDenied.InvalidState"),
        outcome="reused",
        reason=None,
        sleeps=_one_backoff,
    ),
    # The client's retries run out: the router rebuilds the chain from the history.
    Fault(
        "403-invalid-state-x3",
        _fault("status", status=403, code="OperationDenied.InvalidState", times=3),
        reason="busy",
        sleeps=lambda s: len(s) == 2,  # the client's two backoffs; the rebuild is at once
    ),
    Fault(
        "404-response-gone",
        _fault("status", status=404, code="NotFound.Response"),
        reason="gone",
    ),
    _raises("drop-applied", _fault("drop"), CONNECTION),
    _raises("drop-unapplied", _fault("drop", apply=False), CONNECTION),
    _raises(
        "read-timeout",
        _fault("latency", seconds=0.6),
        (ArkTimeoutError, ModelTimeoutError),
        timeout=0.3,
    ),
    _raises(
        "stream-cut-after-3", _fault("cut_stream", after_chunks=3), CONNECTION, stream_only=True
    ),
    _raises(
        "stream-cut-before-first",
        _fault("cut_stream", after_chunks=0),
        CONNECTION,
        stream_only=True,
    ),
    _raises(
        "stream-error-event",
        _fault("stream_error", status=500, after_chunks=4),
        SERVER,
        stream_only=True,
    ),
    Fault("restart", lambda emu: emu.forget_responses(), reason="gone"),
    # Time passes for the server and the router alike, past the chain's expire_at.
    Fault(
        "clock-past-expire",
        lambda emu: emu.advance_clock(TTL + 60),
        outcome="created",
        reason="expired",
    ),
]

# Refusals that persist: the retries run out and the caller gets the typed error.
EXHAUSTED = [
    _raises(
        "429x5",
        _fault("status", status=429, times=5, retry_after="0"),
        (ArkRateLimitError, ModelRateLimitError),
    ),
    _raises(
        "403-invalid-state-x6",
        _fault("status", status=403, code="OperationDenied.InvalidState", times=6),
        (ArkContextBusyError, None),
    ),
]


@pytest.mark.parametrize(("adapter", "method", "fault"), _cases(FAULTS))
async def test_fault_is_absorbed_or_typed(emu: Any, adapter: str, method: str, fault: Fault):
    await run_scenario(emu, adapter, method, fault, RESPONSES)


@pytest.mark.parametrize(("adapter", "method", "fault"), _cases(EXHAUSTED))
async def test_persistent_fault_raises_typed_error(
    emu: Any, adapter: str, method: str, fault: Fault
):
    await run_scenario(emu, adapter, method, fault, RESPONSES)
