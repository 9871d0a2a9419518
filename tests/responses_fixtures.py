"""Test helpers that play the Responses API server's part: build Response objects the way
the spec (§3) shows them and replay them as SSE event dicts in the spec's order (§4).

Written from the spec, independently of ``ark_context.conversation``.
"""

from __future__ import annotations

import json
import random
from typing import Any


def function_call_item(call_id: str, name: str, arguments: str, n: int = 0) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{n}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def response_object(
    *,
    text: str | None = None,
    calls: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    reasoning: list[str] = (),  # type: ignore[assignment]
    status: str = "completed",
    usage: dict[str, Any] | None = None,
    rid: str = "resp_1",
    text_parts: list[str] | None = None,
) -> dict[str, Any]:
    """A Response object with one reasoning item (if any), one message (if text) and one
    function_call item per call, in that order."""
    output: list[dict[str, Any]] = []
    if reasoning:
        output.append(
            {
                "type": "reasoning",
                "id": "rs_1",
                "status": "completed",
                "summary": [{"type": "summary_text", "text": r} for r in reasoning],
            }
        )
    parts = text_parts if text_parts is not None else ([text] if text else [])
    if parts:
        output.append(
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": p, "annotations": None} for p in parts],
            }
        )
    for n, (call_id, name, args) in enumerate(calls):
        output.append(function_call_item(call_id, name, args, n))
    return {
        "id": rid,
        "object": "response",
        "created_at": 1760168211,
        "model": "doubao-seed-1-6-251015",
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "length"} if status == "incomplete" else None,
        "output": output,
        "usage": usage
        or {
            "input_tokens": 116,
            "input_tokens_details": {"cached_tokens": 104},
            "output_tokens": 232,
            "output_tokens_details": {"reasoning_tokens": 211},
            "total_tokens": 348,
        },
        "caching": {"type": "enabled"},
        "store": True,
        "expire_at": 1760427411,
    }


def _pieces(text: str, rng: random.Random) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(text):
        j = i + rng.randint(1, 5)
        out.append(text[i:j])
        i = j
    return out


def stream_events(
    response: dict[str, Any], rng: random.Random | None = None
) -> list[dict[str, Any]]:
    """The SSE event dicts a server streams for ``response`` (deltas split at random)."""
    rng = rng or random.Random(0)
    seq = iter(range(10_000))
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": next(seq), "response": started},
        {"type": "response.in_progress", "sequence_number": next(seq), "response": started},
    ]

    def ev(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": next(seq), **fields})

    for oi, item in enumerate(response["output"]):
        kind = item["type"]
        if kind == "function_call":
            ev("response.output_item.added", output_index=oi, item={**item, "arguments": ""})
            for piece in _pieces(item["arguments"], rng):
                ev(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=oi,
                    delta=piece,
                )
            ev(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=oi,
                arguments=item["arguments"],
            )
        elif kind == "message":
            ev("response.output_item.added", output_index=oi, item={**item, "content": []})
            for ci, part in enumerate(item["content"]):
                ev(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=oi,
                    content_index=ci,
                    part={"type": "output_text", "text": ""},
                )
                for piece in _pieces(part["text"], rng):
                    ev(
                        "response.output_text.delta",
                        item_id=item["id"],
                        output_index=oi,
                        content_index=ci,
                        delta=piece,
                    )
                ev(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=oi,
                    content_index=ci,
                    text=part["text"],
                )
                ev(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=oi,
                    content_index=ci,
                    part=part,
                )
        elif kind == "reasoning":
            ev("response.output_item.added", output_index=oi, item={**item, "summary": []})
            for si, part in enumerate(item["summary"]):
                ev(
                    "response.reasoning_summary_part.added",
                    item_id=item["id"],
                    output_index=oi,
                    summary_index=si,
                    part={"type": "summary_text", "text": ""},
                )
                for piece in _pieces(part["text"], rng):
                    ev(
                        "response.reasoning_summary_text.delta",
                        item_id=item["id"],
                        output_index=oi,
                        summary_index=si,
                        delta=piece,
                    )
                ev(
                    "response.reasoning_summary_text.done",
                    item_id=item["id"],
                    output_index=oi,
                    summary_index=si,
                    text=part["text"],
                )
                ev(
                    "response.reasoning_summary_part.done",
                    item_id=item["id"],
                    output_index=oi,
                    summary_index=si,
                    part=part,
                )
        ev("response.output_item.done", output_index=oi, item=item)
    terminal = {"completed": "response.completed", "incomplete": "response.incomplete"}
    ev(terminal.get(response["status"], "response.failed"), response=response)
    return events


def spaced_json(args: dict[str, Any], rng: random.Random) -> str:
    """``args`` as a model might write it: any spacing, ASCII-escaped or not."""
    return json.dumps(
        args,
        ensure_ascii=rng.random() < 0.5,
        indent=rng.choice([None, 2]),
        separators=rng.choice([(",", ":"), (", ", ": ")]),
    )
