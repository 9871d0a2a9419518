"""Property: however a valid byte stream is split into chunks, the events are the same."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ark_context._sse import SSEEvent, SSEParser

# Values never contain line breaks (a data value cannot), but do contain multi-byte UTF-8.
_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=12,
)
_eol = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A serialised event stream (with comments and event names) and each event's data."""
    parts: list[str] = []
    expected: list[str] = []
    # one style per stream: a CR line end followed by an LF one would read as one CRLF
    eol = draw(_eol)
    for _ in range(draw(st.integers(0, 5))):
        values: list[str] = []
        for line in draw(st.lists(_value, min_size=1, max_size=3)):
            if draw(st.booleans()):
                parts.append(": comment " + draw(_value) + eol)
            if draw(st.booleans()):
                parts.append("event: e" + eol)
            sep = draw(st.sampled_from(["data: ", "data:"]))
            parts.append(sep + line + eol)
            # exactly one space after the colon is dropped
            values.append(line[1:] if sep == "data:" and line.startswith(" ") else line)
        parts.append(eol)
        expected.append("\n".join(values))
    return "".join(parts).encode(), expected


def _events(chunks: list[bytes]) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(p.feed(c))
    out.extend(p.close())
    return out


def _split(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    chunks, prev = [], 0
    for p in points:
        chunks.append(raw[prev:p])
        prev = p
    chunks.append(raw[prev:])
    return chunks


@settings(max_examples=300, deadline=None)
@given(streams(), st.lists(st.integers(0, 10_000), max_size=12))
def test_any_split_gives_the_same_events(stream: tuple[bytes, list[str]], cuts: list[int]):
    raw, expected = stream
    whole = _events([raw])
    assert [e.data for e in whole] == expected
    assert _events(_split(raw, cuts)) == whole


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_value, min_size=1, max_size=3), max_size=5), _eol, st.data())
def test_events_match_what_was_written(events: list[list[str]], eol: str, data: st.DataObject):
    raw = "".join("".join(f"data: {line}{eol}" for line in ev) + eol for ev in events).encode()
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=10))
    got = [e.data for e in _events(_split(raw, cuts))]
    assert got == ["\n".join(ev) for ev in events]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 400), max_size=8))
def test_arbitrary_bytes_split_consistently(raw: bytes, cuts: list[int]):
    # Garbage in: either the same events for every split, or the same error type.
    def run(chunks: list[bytes]) -> object:
        try:
            return _events(chunks)
        except Exception as exc:
            return type(exc)

    assert run(_split(raw, cuts)) == run([raw])
