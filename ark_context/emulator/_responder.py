"""Replies: the default deterministic echo responder and the pluggable responder type."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._tokens import content_text


@dataclasses.dataclass(frozen=True)
class FunctionCall:
    """A reply that calls a declared function tool (Responses API, or plain chat with tools).

    >>> FunctionCall("get_weather", {"location": "Beijing"}).name
    'get_weather'
    """

    name: str
    #: A JSON-serialisable value, or a JSON string.
    arguments: Any = dataclasses.field(default_factory=dict)


#: What a responder returns: reply text, or (Responses API) one or more function calls.
Reply = str | FunctionCall | Sequence[FunctionCall]

#: ``responder(messages, params) -> reply``. ``messages`` is the effective prompt (context
#: part + messages sent; for the Responses API the chain's transcript, where messages are
#: ``{"role", "content"}`` and function items keep their ``type``) as wire dicts; ``params``
#: holds the request's set fields (``model``, ``max_tokens``, ``stop``, ``tools``, ``text``,
#: ...; never ``messages``/``input``) plus ``"prompt_info"``: ``{"messages", "tokens",
#: "cached_tokens", "from_context", "context_id", "mode", "path"}``. Do not mutate the
#: arguments. Token and window limits are applied to the text it returns. Context chat takes
#: text only; plain ``/chat/completions`` with ``tools`` (given to the responder flat, as
#: the Responses API's) may be answered with function calls, returned as ``tool_calls``.
Responder = Callable[[Sequence[Mapping[str, Any]], Mapping[str, Any]], Reply]


def echo_responder(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    """The default reply: what the model saw, then the last user message echoed.

    >>> echo_responder([{"role": "user", "content": "hi"}],
    ...                {"prompt_info": {"messages": 1, "tokens": 4, "cached_tokens": 0}})
    '[saw 1 messages, 4 tokens, 0 cached] echo: hi'
    """
    info = params["prompt_info"]
    last_user = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            last_user = content_text(message.get("content"))
            break
    return (
        f"[saw {info['messages']} messages, {info['tokens']} tokens, "
        f"{info['cached_tokens']} cached] echo: {last_user}"
    )
