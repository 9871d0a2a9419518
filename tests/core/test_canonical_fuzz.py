"""Fuzzing the two places where outside input meets the digest chain and the stream decoder.

* Canonicalisation: equivalent LangChain and LlamaIndex representations of one
  conversation (string vs text blocks, ``HumanMessage`` vs ``ChatMessage(role="user")``,
  ``TextBlock`` blocks vs content, ``MessageRole`` enums vs strings and their aliases, names
  given or empty) convert (``langchain_ark_context.chat_models._to_wire_messages``,
  ``llama_index_ark_context.base.to_wire_messages``) to the same wire messages and the same
  ``digest_chain``; any change that reaches the wire (text, Unicode normalisation,
  whitespace, role, name, where a message boundary falls) gives a different digest.
* Streams: random bytes, and random SSE-shaped events with JSON of the wrong shape, through
  the client's real stream decoding (``ChatStream``/``AsyncChatStream`` over an httpx
  response, split at random points) end normally or raise an ``ArkError``
  (``ArkStreamError``/``ArkProtocolError``, or the ``ArkAPIError`` an error event names),
  never anything else.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.messages import ChatMessage as LCChat
from llama_index.core.base.llms.types import CacheControl, CachePoint, MessageRole, TextBlock
from llama_index.core.base.llms.types import ChatMessage as LIChat

from ark_context import ArkError
from ark_context._client import AsyncChatStream, ChatStream
from ark_context._messages import digest_chain, namespace_digest, wire_message
from langchain_ark_context.chat_models import _to_wire_messages as lc_to_wire
from llama_index_ark_context.base import to_wire_messages as li_to_wire

NS = namespace_digest(
    base_url="https://ark.test/api/v3",
    model="ep-fuzz",
    mode="session",
    truncation=None,
    api_key="sk-fuzz",
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- an abstract conversation and its many renderings ---------------------------------------

# Text without lone surrogates (those are an input error, tested elsewhere), with CJK,
# combining marks, emoji, control characters and whitespace.
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=24)
_name = st.none() | st.just("") | st.sampled_from(["alice", "bob", "客服", "a b"])
_role = st.sampled_from(["system", "user", "assistant"])


@st.composite
def _message(draw: st.DrawFn, role: str | None = None) -> dict[str, Any]:
    return {
        "role": role or draw(_role),
        "parts": draw(st.lists(_text, max_size=3)),
        "name": draw(_name),
    }


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A valid conversation: anything, then a last message that is not the assistant's."""
    body = draw(st.lists(_message(), max_size=6))
    return [*body, draw(_message(role=draw(st.sampled_from(["system", "user"]))))]


def canonical(conv: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What must go on the wire: the parts joined, the name only when non-empty."""
    return [wire_message(m["role"], "".join(m["parts"]), m["name"] or None) for m in conv]


def _lc_content(draw: st.DrawFn, parts: list[str]) -> Any:
    style = draw(st.sampled_from(["str", "blocks", "mixed"]))
    if style == "str":
        return "".join(parts)
    if style == "blocks":
        return [{"type": "text", "text": p} for p in parts]
    return [p if draw(st.booleans()) else {"type": "text", "text": p} for p in parts]


@st.composite
def langchain_rendering(draw: st.DrawFn, conv: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for m in conv:
        content = _lc_content(draw, m["parts"])
        kw: dict[str, Any] = {"name": m["name"]} if m["name"] is not None else {}
        if draw(st.booleans()):
            out.append(LCChat(role=m["role"], content=content, **kw))
        else:
            cls = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
            out.append(cls[m["role"]](content=content, **kw))
    return out


_LI_ROLES: dict[str, list[Any]] = {
    "system": ["system", MessageRole.SYSTEM, MessageRole.DEVELOPER],
    "user": ["user", MessageRole.USER],
    "assistant": ["assistant", MessageRole.ASSISTANT, MessageRole.CHATBOT, MessageRole.MODEL],
}


@st.composite
def llama_index_rendering(draw: st.DrawFn, conv: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for m in conv:
        role = draw(st.sampled_from(_LI_ROLES[m["role"]]))
        extra = {"name": m["name"]} if m["name"] is not None else {}
        if draw(st.booleans()):
            out.append(LIChat(role=role, content="".join(m["parts"]), additional_kwargs=extra))
            continue
        blocks: list[Any] = []
        for p in m["parts"]:
            if draw(st.booleans()):  # a caching hint for other providers: not content
                blocks.append(CachePoint(cache_control=CacheControl(type="ephemeral")))
            blocks.append(TextBlock(text=p))
        out.append(LIChat(role=role, blocks=blocks, additional_kwargs=extra))
    return out


@FUZZ
@given(st.data(), conversations())
def test_equivalent_renderings_give_one_wire_form_and_one_digest(
    data: st.DataObject, conv: list[dict[str, Any]]
) -> None:
    want = canonical(conv)
    lc_a = lc_to_wire(data.draw(langchain_rendering(conv)))
    lc_b = lc_to_wire(data.draw(langchain_rendering(conv)))
    li_a = li_to_wire(data.draw(llama_index_rendering(conv)))
    li_b = li_to_wire(data.draw(llama_index_rendering(conv)))
    assert lc_a == lc_b == li_a == li_b == want
    chain = digest_chain(NS, want)
    for wire in (lc_a, lc_b, li_a, li_b):
        assert digest_chain(NS, wire) == chain


# -- differences that reach the wire ----------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, conv: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``conv`` with one change; some changes are invisible on the wire (a part split
    differently inside a message), most are not."""
    out = [dict(m, parts=list(m["parts"])) for m in conv]
    i = draw(st.integers(0, len(out) - 1))
    m = out[i]
    text = "".join(m["parts"])
    kind = draw(
        st.sampled_from(
            ["edit", "append", "nfd", "space", "role", "name", "resplit", "move", "drop_name"]
        )
    )
    if kind == "edit":
        m["parts"] = [draw(_text)]
    elif kind == "append":
        m["parts"].append(draw(st.text(min_size=1, max_size=3)))
    elif kind == "nfd":
        m["parts"] = [unicodedata.normalize(draw(st.sampled_from(["NFD", "NFC", "NFKC"])), text)]
    elif kind == "space":
        m["parts"] = [text + draw(st.sampled_from([" ", "\n", "\t", "\u00a0", "\u200b"]))]
    elif kind == "role":
        roles = ["system", "user"] if i == len(out) - 1 else ["system", "user", "assistant"]
        m["role"] = draw(st.sampled_from(roles))
    elif kind == "name":
        m["name"] = draw(_name)
    elif kind == "drop_name":
        m["name"] = None
    elif kind == "resplit":  # same text, other part boundaries: the wire is the same
        cut = draw(st.integers(0, len(text)))
        m["parts"] = [text[:cut], text[cut:]]
    elif kind == "move" and i + 1 < len(out) and text:  # a message boundary moves
        out[i + 1]["parts"].insert(0, text[-1])
        m["parts"] = [text[:-1]]
    return out


@FUZZ
@given(st.data(), conversations())
def test_a_difference_on_the_wire_changes_the_digest(
    data: st.DataObject, conv: list[dict[str, Any]]
) -> None:
    other = data.draw(mutated(conv))
    a = lc_to_wire(data.draw(langchain_rendering(conv)))
    b = li_to_wire(data.draw(llama_index_rendering(other)))
    assert a == canonical(conv) and b == canonical(other)
    da, db = digest_chain(NS, a), digest_chain(NS, b)
    if a == b:
        assert da == db
        return
    assert da[-1] != db[-1]
    # The chains agree exactly up to the first message that differs, then never again.
    first = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    assert da[:first] == db[:first]
    assert all(x != y for x, y in zip(da[first:], db[first:], strict=False))


def test_equivalence_examples_that_must_hold() -> None:
    """Named cases the properties above cover, kept readable."""
    lc = lc_to_wire(
        [
            SystemMessage(content=[{"type": "text", "text": "Be "}, "brief."]),
            LCChat(role="user", content="Hi", name="ann"),
        ]
    )
    li = li_to_wire(
        [
            LIChat(
                role=MessageRole.DEVELOPER, blocks=[TextBlock(text="Be "), TextBlock(text="brief.")]
            ),
            LIChat(role="user", content="Hi", additional_kwargs={"name": "ann"}),
        ]
    )
    assert (
        lc
        == li
        == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi", "name": "ann"},
        ]
    )
    decomposed = [{"role": "user", "content": unicodedata.normalize("NFD", "é")}]
    assert digest_chain(NS, [{"role": "user", "content": "é"}]) != digest_chain(NS, decomposed)


# -- stream decoding on garbage -------------------------------------------------------------------

_json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(
    [
        "id",
        "choices",
        "delta",
        "content",
        "usage",
        "error",
        "code",
        "message",
        "finish_reason",
        "index",
        "role",
        "prompt_tokens",
        "prompt_tokens_details",
        "cached_tokens",
        "logprobs",
    ]
)
# JSON whose keys are the ones the decoder looks at, with values of any type.
_shaped = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def sse_garbage(draw: st.DrawFn) -> bytes:
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["data", "shaped", "event", "comment", "junk", "done"]))
        if kind == "data":
            lines.append("data: " + json.dumps(draw(_json)))
        elif kind == "shaped":
            lines.append("data: " + json.dumps(draw(_shaped)))
        elif kind == "event":
            lines.append("event: " + draw(st.sampled_from(["error", "message", "x"])))
        elif kind == "comment":
            lines.append(": " + draw(_text).replace("\n", " ").replace("\r", " "))
        elif kind == "junk":
            lines.append(draw(_text))
        else:
            lines.append("data: [DONE]")
        if draw(st.booleans()):
            lines.append("")
    return "\n".join(lines).encode() + draw(st.binary(max_size=4))


class _Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for c in self.chunks:
            yield c


def _split(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    out, prev = [], 0
    for p in points:
        out.append(raw[prev:p])
        prev = p
    return [*out, raw[prev:]]


def _response(chunks: list[bytes]) -> httpx.Response:
    request = httpx.Request("POST", "https://ark.test/api/v3/context/chat/completions")
    return httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        stream=_Chunks(chunks),
        request=request,
    )


def _outcome_sync(chunks: list[bytes]) -> Any:
    try:
        with ChatStream(_response(chunks), 0, True) as stream:
            return [c.text for c in stream]
    except ArkError as exc:
        return type(exc)


def _outcome_async(chunks: list[bytes]) -> Any:
    async def go() -> Any:
        try:
            async with AsyncChatStream(_response(chunks), 0, True) as stream:
                return [c.text async for c in stream]
        except ArkError as exc:
            return type(exc)

    return asyncio.run(go())


@FUZZ
@given(st.binary(max_size=300) | sse_garbage(), st.lists(st.integers(0, 600), max_size=6))
def test_garbage_streams_end_or_raise_only_ark_errors(raw: bytes, cuts: list[int]) -> None:
    chunks = _split(raw, cuts)
    got = _outcome_sync(chunks)  # anything but an ArkError propagates and fails the test
    assert got == _outcome_sync([raw]), "the outcome depends on where the bytes were split"
    assert got == _outcome_async(chunks), "sync and async decoding disagree"


@FUZZ
@given(st.lists(_shaped, min_size=1, max_size=4))
def test_wrong_shaped_chunks_before_done_raise_only_ark_errors(events: list[Any]) -> None:
    raw = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    got = _outcome_sync([raw.encode()])
    assert isinstance(got, list) or issubclass(got, ArkError)
    if isinstance(got, list):  # accepted chunks really are chunk-shaped objects
        assert all(isinstance(t, str) for t in got)
