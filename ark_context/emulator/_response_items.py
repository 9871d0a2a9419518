"""Responses API items: validating request input, the shapes the API returns, token counts,
and JSON values for ``text.format`` schemas. Pure functions, no state."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ._common import null_free
from ._errors import ApiError, invalid, missing
from ._tokens import MESSAGE_OVERHEAD, content_text, count_tokens

_ROLES = frozenset(("system", "user", "assistant", "developer"))
_PARTS = frozenset(("input_text", "input_image", "input_video", "input_file", "output_text"))
_TEXT_PARTS = frozenset(("input_text", "output_text"))
_THINKING = frozenset(("enabled", "disabled", "auto"))


@dataclasses.dataclass
class Item:
    """One item of a chain: how the model sees it (``view``), how ``input_items`` lists it
    (``listing``, with its id), and its tokens."""

    view: dict[str, Any]
    listing: dict[str, Any]
    tokens: int


def _check_content(i: int, role: str, content: Any) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise invalid("input", f"item {i}: content must be a string or a non-empty array")
    parts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in _PARTS:
            raise invalid("input", f"item {i}: unsupported content part {part!r:.60}")
        part = null_free(part)
        if part["type"] in _TEXT_PARTS and not isinstance(part.get("text"), str):
            raise invalid("input", f"item {i}: a {part['type']} part needs a string 'text'")
        if part["type"] == "output_text" and role != "assistant":
            raise invalid("input", f"item {i}: output_text parts belong to assistant messages")
        parts.append(part)
    return parts


def check_input(raw: Any) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of item dicts (nulls dropped); ``ApiError`` if bad.

    >>> check_input("hi")
    [{'type': 'message', 'role': 'user', 'content': 'hi'}]
    """
    if raw is None:
        raise missing("input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise invalid("input", "must be a string or a non-empty array of items")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid("input", f"item {i} must be an object")
        item = null_free(item)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in _ROLES:
                raise invalid("input", f"item {i} has unsupported role {role!r}")
            if "content" not in item:
                raise missing("input.content")
            msg: dict[str, Any] = {
                "type": "message",
                "role": role,
                "content": _check_content(i, role, item["content"]),
            }
            if item.get("partial") is True:
                if role != "assistant" or i != len(raw) - 1:
                    raise invalid("input", "partial is only allowed on a last assistant message")
                msg["partial"] = True
            out.append(msg)
        elif kind == "function_call":
            for name in ("call_id", "name", "arguments"):
                if not isinstance(item.get(name), str):
                    raise invalid("input", f"item {i}: a function_call needs a string {name!r}")
            out.append({k: item[k] for k in ("type", "call_id", "name", "arguments")})
        elif kind == "function_call_output":
            for name in ("call_id", "output"):
                if not isinstance(item.get(name), str):
                    raise invalid(
                        "input", f"item {i}: a function_call_output needs a string {name!r}"
                    )
            out.append({k: item[k] for k in ("type", "call_id", "output")})
        elif kind == "reasoning":
            continue  # earlier reasoning sent back: never part of the context
        else:
            raise invalid("input", f"item {i} has unsupported type {kind!r}")
    if not out:
        raise invalid("input", "holds no message or function item")
    return out


def item_tokens(item: Mapping[str, Any]) -> int:
    """Tokens of a context item: ``MESSAGE_OVERHEAD`` plus its text (messages), name and
    arguments (function calls) or output (function call outputs). Images etc. are free."""
    kind = item.get("type", "message")
    if kind == "function_call":
        return MESSAGE_OVERHEAD + count_tokens(item["name"]) + count_tokens(item["arguments"])
    if kind == "function_call_output":
        return MESSAGE_OVERHEAD + count_tokens(item["output"])
    return MESSAGE_OVERHEAD + count_tokens(content_text(item.get("content")))


def input_item(item: dict[str, Any], item_id: str) -> Item:
    """A validated input item as the model sees it and as ``input_items`` lists it."""
    kind = item["type"]
    if kind == "message":
        role, content = item["role"], item["content"]
        view = {"role": role, "content": content}
        if isinstance(content, str):
            part_type = "output_text" if role == "assistant" else "input_text"
            content = [{"type": part_type, "text": content}]
        listing = {"type": "message", "id": item_id, "role": role, "status": "completed",
                   "content": content}  # fmt: skip
    else:
        view = dict(item)
        listing = {**item, "id": item_id, "status": "completed"}
    return Item(view, listing, item_tokens(view))


def output_context_item(item: dict[str, Any]) -> Item | None:
    """An output item as later turns of the chain see it (reasoning: never)."""
    if item["type"] == "message":
        text = "".join(p["text"] for p in item["content"])
        view = {"role": "assistant", "content": text}
    elif item["type"] == "function_call":
        view = {k: item[k] for k in ("type", "call_id", "name", "arguments")}
    else:
        return None
    return Item(view, item, item_tokens(view))


def listed(item: dict[str, Any], include_images: bool) -> dict[str, Any]:
    """An ``input_items`` entry: images bare unless ``include[]=message.input_image.image_url``."""
    content = item.get("content")
    if include_images or item.get("type") != "message" or not isinstance(content, list):
        return item
    parts = [{"type": "input_image"} if p.get("type") == "input_image" else p for p in content]
    return {**item, "content": parts}


def text_format(text: Any) -> dict[str, Any] | None:
    """The validated ``text.format`` (None for plain text)."""
    if text is None:
        return None
    if not isinstance(text, dict):
        raise invalid("text", "must be an object")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise invalid("text.format", "must be an object")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        if isinstance(fmt.get("json_schema"), dict):
            raise invalid(
                "text.format",
                "the Responses API takes the flat shape {type, name, schema, strict}, "
                "not the Chat shape {type, json_schema: {...}}",
            )
        if not isinstance(fmt.get("name"), str) or not fmt["name"]:
            raise invalid("text.format.name", "a json_schema format needs a name")
        if not isinstance(fmt.get("schema"), dict):
            raise invalid("text.format.schema", "a json_schema format needs a schema object")
        return null_free(fmt)
    raise invalid("text.format.type", "must be 'text', 'json_object' or 'json_schema'")


def schema_instance(schema: Any, text: str, root: Mapping[str, Any] | None = None) -> Any:
    """A deterministic JSON value valid for ``schema`` (strings carry ``text``).

    >>> schema_instance({"type": "object", "properties": {"a": {"type": "integer"}}}, "x")
    {'a': 0}
    """
    root = schema if root is None and isinstance(schema, Mapping) else (root or {})
    if not isinstance(schema, Mapping):
        return text
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, Mapping) else {}
        return schema_instance(target, text, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema_instance(schema[key][0], text, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {k: schema_instance(v, text, root) for k, v in props.items()}
    if kind == "array":
        n = schema.get("minItems", 0)
        return [schema_instance(schema.get("items", {}), text, root) for _ in range(n)]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text


def function_tools(tools: Any, caching: bool) -> list[dict[str, Any]] | None:
    """The validated ``tools`` (None when unset); non-function tools are refused with caching."""
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise invalid("tools", "must be an array")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise invalid("tools", f"tool {i} must be an object with a type")
        tool = null_free(tool)
        if tool["type"] != "function":
            if caching:
                raise invalid(
                    "tools",
                    f"caching supports only function tools, not {tool['type']!r}",
                )
            out.append(tool)
            continue
        if isinstance(tool.get("function"), dict):
            raise invalid(
                "tools",
                "a Responses API function tool is flat {type, name, parameters}, "
                "not nested under 'function' as in Chat",
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise invalid("tools", f"function tool {i} needs a name")
        params = tool.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise invalid("tools", f"function tool {tool['name']!r}: parameters must be an object")
        out.append(tool)
    return out


def function_arguments(arguments: Any) -> str:
    """A responder's arguments as the JSON string the API sends."""
    if isinstance(arguments, str):
        json.loads(arguments)  # must be JSON
        return arguments
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def responder_error(why: str) -> ApiError:
    return ApiError(500, "InternalServiceError", f"The emulator's responder {why}.")


def parse_thinking(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in _THINKING:
        raise invalid("thinking.type", "must be 'enabled', 'disabled' or 'auto'")
    return {"type": raw["type"]}


def parse_caching(raw: Any) -> tuple[bool, bool]:
    if raw is None:
        return False, False
    if not isinstance(raw, dict):
        raise invalid("caching", "must be an object")
    kind = raw.get("type", "disabled")
    if kind not in ("enabled", "disabled"):
        raise invalid("caching.type", "must be 'enabled' or 'disabled'")
    prefix = raw.get("prefix")
    if prefix is not None and not isinstance(prefix, bool):
        raise invalid("caching.prefix", "must be true or false")
    if prefix and kind != "enabled":
        raise invalid("caching.prefix", "a prefix cache needs caching.type 'enabled'")
    return kind == "enabled", bool(prefix)


def response_usage(inp: int, cached: int, out: int, reasoning: int) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": inp + out,
    }


def last_user_text(transcript: Sequence[Mapping[str, Any]]) -> str:
    for item in reversed(transcript):
        if item.get("role") == "user":
            return content_text(item.get("content"))
    return ""


def check_call_outputs(
    chain: Sequence[Mapping[str, Any]], items: Sequence[Mapping[str, Any]]
) -> None:
    calls = {i["call_id"] for i in chain if i.get("type") == "function_call"}
    for item in items:
        if item["type"] == "function_call":
            calls.add(item["call_id"])
        elif item["type"] == "function_call_output" and item["call_id"] not in calls:
            raise invalid(
                "input",
                f"no function call with call_id {item['call_id']!r} precedes its output",
            )


def parse_tool_choice(raw: Any, tools: list[dict[str, Any]] | None) -> Any:
    if raw is None:
        return None
    if raw in ("none", "auto", "required"):
        return raw
    names = {t["name"] for t in tools or () if t["type"] == "function"}
    if isinstance(raw, dict) and raw.get("type") == "function":
        if raw.get("name") not in names:
            raise invalid("tool_choice", f"names no declared function tool: {raw.get('name')!r}")
        return {"type": "function", "name": raw["name"]}
    raise invalid("tool_choice", "must be none, auto, required or {type: function, name}")
