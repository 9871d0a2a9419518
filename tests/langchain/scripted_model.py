"""A deterministic "model" for langchain-tests' integration suite on the emulator.

The standard tests ask things like "What is the value of magic_function(3)? Use the tool."
and check the arguments, so the emulator's default reply (an echo, or schema-shaped
placeholders) is not enough. :func:`instruction_follower` reads the prompt the way a model
would, within what the suite asks:

- tools offered (and ``tool_choice`` not ``none``) and a user turn to answer: call the
  forced tool, else the tool the prompt names, else the first; arguments from the tool's
  JSON Schema, with numbers taken from ``name(N)`` in the prompt and strings from the text
  the prompt quotes;
- a tool result to answer: say what the tool returned;
- ``json_schema`` output: an instance of the schema; ``json_object``: the keys the prompt
  asks for ("a JSON with 'setup' and 'punchline' keys");
- anything else: the emulator's echo.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ark_context.emulator import FunctionCall, echo_responder


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        p.get("text", "") for p in content or () if isinstance(p, Mapping) and "text" in p
    )


def _last_user(messages: Sequence[Mapping[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return _text(m.get("content"))
    return ""


def _tool_spec(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    fn = tool.get("function")
    return fn if isinstance(fn, Mapping) else tool


def instance(schema: Mapping[str, Any], prompt: str, defs: Mapping[str, Any] | None = None) -> Any:
    """A value of ``schema`` that uses what the prompt says."""
    defs = defs if defs is not None else schema.get("$defs") or schema.get("definitions") or {}
    if "$ref" in schema:
        return instance(defs[str(schema["$ref"]).rsplit("/", 1)[-1]], prompt, defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return instance(options[0], prompt, defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: instance(v, prompt, defs) for k, v in props.items()}
    if kind == "integer":
        found = re.search(r"\((-?\d+)\)", prompt) or re.search(r"-?\d+", prompt)
        return int(found.group(1) if found and found.groups() else found.group(0)) if found else 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    quoted = re.search(r"'([^']+)'", prompt)
    return quoted.group(1) if quoted else prompt[:40] or "ok"


def _forced(choice: Any) -> str | None:
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        return str(fn["name"] if isinstance(fn, Mapping) else choice.get("name"))
    return None


def instruction_follower(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> Any:
    """An emulator responder (see the module docstring)."""
    last = messages[-1] if messages else {}
    answered = last.get("type") == "function_call_output" or last.get("role") == "tool"
    prompt = _last_user(messages)
    tools = [_tool_spec(t) for t in params.get("tools") or ()]
    choice = params.get("tool_choice")
    if tools and choice != "none" and not answered:
        name = _forced(choice)
        if name is None:
            named = [t for t in tools if t["name"] in prompt]
            name = (named or tools)[0]["name"]
        spec = next(t for t in tools if t["name"] == name)
        args = instance(spec.get("parameters") or {"type": "object"}, prompt)
        return FunctionCall(name, args)
    if answered:
        return f"The tool returned: {_text(last.get('output', last.get('content')))}"
    fmt = (params.get("text") or {}).get("format") or params.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = fmt.get("schema") or (fmt.get("json_schema") or {}).get("schema") or {}
        return json.dumps(instance(schema, prompt), ensure_ascii=False)
    if fmt.get("type") == "json_object":
        keys = re.findall(r"'(\w+)'", prompt)
        return json.dumps({k: f"the {k}" for k in keys} or {"answer": prompt})
    return echo_responder(messages, params)
