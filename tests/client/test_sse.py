"""The incremental SSE parser: line endings, fields, comments, chunk boundaries."""

from __future__ import annotations

import pytest

from ark_context._exceptions import ArkStreamError
from ark_context._sse import SSEEvent, SSEParser


def parse(*chunks: bytes) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(p.feed(c))
    out.extend(p.close())
    return out


def datas(*chunks: bytes) -> list[str]:
    return [e.data for e in parse(*chunks)]


def test_single_event_and_done():
    assert datas(b'data: {"a":1}\n\ndata: [DONE]\n\n') == ['{"a":1}', "[DONE]"]


def test_multi_line_data_joined_with_newline():
    assert datas(b"data: one\ndata: two\ndata:three\n\n") == ["one\ntwo\nthree"]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes):
    raw = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert datas(raw) == ["a\nb", "c"]


def test_mixed_line_endings():
    assert datas(b"data: a\r\n\rdata: b\n\r\ndata: c\r\r") == ["a", "b", "c"]


def test_crlf_split_across_chunks_is_one_line_end():
    # CR at the end of one chunk and LF at the start of the next is one line end,
    # not a blank line: "a" and "b" belong to the same event.
    assert datas(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == ["a\nb"]


def test_comments_and_unknown_fields_ignored():
    assert datas(b": keep-alive\nfoo: bar\ndata: x\n: more\n\n") == ["x"]


def test_event_id_retry_fields_kept():
    (ev,) = parse(b"event: error\nid: 7\nretry: 3000\ndata: {}\n\n")
    assert ev == SSEEvent("{}", "error", "7", 3000)


def test_event_name_resets_but_id_persists():
    evs = parse(b"event: ping\nid: 1\ndata: a\n\ndata: b\n\n")
    assert [(e.event, e.id) for e in evs] == [("ping", "1"), ("message", "1")]


def test_bad_retry_ignored():
    (ev,) = parse(b"retry: soon\ndata: a\n\n")
    assert ev.retry is None


def test_field_without_space_and_data_without_colon():
    assert datas(b"data:x\n\n") == ["x"]
    assert datas(b"data\ndata: y\n\n") == ["\ny"]


def test_only_one_leading_space_stripped():
    assert datas(b"data:  two spaces\n\n") == [" two spaces"]


def test_blank_lines_without_data_dispatch_nothing():
    assert datas(b"\n\n\n: c\n\n") == []


def test_utf8_split_inside_character():
    raw = "data: 你好🙂\n\n".encode()
    for i in range(1, len(raw)):
        assert datas(raw[:i], raw[i:]) == ["你好🙂"]


def test_one_byte_at_a_time():
    raw = 'data: {"t":"é"}\r\n\r\ndata: [DONE]\r\n\r\n'.encode()
    assert datas(*[raw[i : i + 1] for i in range(len(raw))]) == ['{"t":"é"}', "[DONE]"]


def test_bom_dropped_once_even_when_split():
    assert datas(b"\xef", b"\xbb\xbfdata: a\n\n") == ["a"]
    assert datas(b"\xef\xbb\xbfdata: a\n\n\xef\xbb\xbfdata: b\n\n")[0] == "a"


def test_first_chunk_shorter_than_bom_but_not_bom():
    assert datas(b"d", b"ata: a\n\n") == ["a"]


def test_trailing_event_without_blank_line_is_flushed_at_close():
    assert datas(b"data: a\n\ndata: [DONE]") == ["a", "[DONE]"]
    assert datas(b"data: [DONE]\n") == ["[DONE]"]


def test_feed_returns_events_as_soon_as_complete():
    p = SSEParser()
    assert p.feed(b"data: a\n") == []
    assert [e.data for e in p.feed(b"\n")] == ["a"]
    assert p.feed(b"") == []


def test_invalid_utf8_is_a_stream_error():
    with pytest.raises(ArkStreamError, match="UTF-8"):
        parse(b"data: \xff\xfe\n\n")
