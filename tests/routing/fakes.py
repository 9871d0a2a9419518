"""Fakes for driving routing flows without a network: a scripted backend and helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ark_context import wire_message as W
from ark_context._exceptions import ArkContextBusyError, ArkContextGoneError
from ark_context._messages import WireMessage, namespace_digest
from ark_context._models import ChatCompletion
from ark_context.routing.backend import CallSpec, Created
from ark_context.routing.drivers import (
    AsyncRunner,
    KeyedLocks,
    LoopLocks,
    SyncRunner,
    adrive,
    drive,
)
from ark_context.routing.flows import RouteConfig, Sent, finish, route
from ark_context.routing.policies import RoutingPolicy, policy_for
from ark_context.stores import InMemoryStore

TTL = 3600


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def completion(text: str, *, prompt: int = 10, completion_tokens: int = 5, cached: int = 0):
    """A chat completion as the client parses it."""
    return ChatCompletion.model_validate(
        {
            "id": "cmpl",
            "model": "ep-test",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }
    )


@dataclass
class FakeBackend:
    """A backend whose server keeps transcripts in a dict; faults are queued callables."""

    name: str = "fake"
    mutable_state: bool = True
    contexts: dict[str, list[WireMessage]] = field(default_factory=dict)
    sends: list[tuple[str | None, list[WireMessage]]] = field(default_factory=list)
    creates: list[list[WireMessage]] = field(default_factory=list)
    send_faults: list[BaseException] = field(default_factory=list)
    create_faults: list[BaseException] = field(default_factory=list)
    create_hook: Callable[[], None] | None = None
    acreate_hook: Callable[[], Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _create(self, messages: list[WireMessage]) -> Created:
        with self.lock:
            if self.create_faults:
                raise self.create_faults.pop(0)
            self.creates.append(list(messages))
            cid = f"ctx-{len(self.creates)}"
            self.contexts[cid] = list(messages)
        return Created(cid, TTL, billed_tokens=len(messages) * 10)

    def create(
        self, messages: list[WireMessage], call: CallSpec, *, shared: bool = False
    ) -> Created:
        if self.create_hook is not None:
            self.create_hook()
        return self._create(messages)

    async def acreate(
        self, messages: list[WireMessage], call: CallSpec, *, shared: bool = False
    ) -> Created:
        if self.acreate_hook is not None:
            await self.acreate_hook()
        return self._create(messages)

    def send(self, state, messages, call, *, idempotent):
        with self.lock:
            self.sends.append((state, list(messages)))
            if self.send_faults:
                raise self.send_faults.pop(0)
            if state is not None:
                if state not in self.contexts:
                    raise ArkContextGoneError("context not found", status_code=404)
                transcript = self.contexts[state] + list(messages)
            else:
                transcript = list(messages)
            reply = f"reply to {transcript[-1]['content']} after {len(transcript)}"
            new_state = state
            if state is not None and not self.mutable_state:  # a new id per turn
                new_state = f"resp-{len(self.sends)}"
            if new_state is not None:
                self.contexts[new_state] = [*transcript, W("assistant", reply)]
        tokens = 10 * len(transcript)  # everything but the tail counts as cached
        done = completion(reply, prompt=tokens, cached=tokens if state is not None else 0)
        done.id = new_state or "plain"
        return done

    async def asend(self, state, messages, call, *, idempotent):
        return self.send(state, messages, call, idempotent=idempotent)

    def state_after_turn(self, state: str, result: object) -> str:
        return state if self.mutable_state else str(getattr(result, "id", state))

    def is_gone(self, exc: BaseException) -> bool:
        return isinstance(exc, ArkContextGoneError)

    def deadline(self, state: str) -> float | None:
        return None

    def is_busy(self, exc: BaseException) -> bool:
        return isinstance(exc, ArkContextBusyError)


@dataclass
class Rig:
    """Flows bound to a real in-memory store and a fake backend, driven sync or async."""

    mode: str = "session"
    backend: FakeBackend = field(default_factory=FakeBackend)
    store: InMemoryStore = field(default_factory=InMemoryStore)
    clock: Clock = field(default_factory=Clock)
    retries: int = 1
    policy: RoutingPolicy | None = None
    slept: list[float] = field(default_factory=list)
    locks: KeyedLocks[Any] = field(default_factory=lambda: KeyedLocks(threading.Lock))
    alocks: LoopLocks = field(default_factory=LoopLocks)

    def __post_init__(self) -> None:
        self.store = InMemoryStore(clock=self.clock)
        self.cfg = RouteConfig(
            namespace=namespace_digest(
                base_url="http://x", model="ep-test", mode=self.mode, truncation=None, api_key="k"
            ),
            mode=self.mode,
            ttl=TTL,
            expiry_margin=60.0,
            truncation=False,
            prefix_messages=None,
            fresh_context_retries=self.retries,
            clock=self.clock,
            backend=self.backend,  # type: ignore[arg-type]
            policy=self.policy or policy_for(self.mode),
        )

    def runner(self, call: CallSpec) -> SyncRunner:
        return SyncRunner(self.store, self.backend, call, self.locks, self.slept.append)  # type: ignore[arg-type]

    def arunner(self, call: CallSpec) -> AsyncRunner:
        async def asleep(s: float) -> None:
            self.slept.append(s)

        return AsyncRunner(self.store, self.backend, call, self.alocks, asleep)  # type: ignore[arg-type]

    def chat(self, history: list[WireMessage]) -> tuple[str, Any]:
        call = CallSpec({})
        sent: Sent = drive(route(self.cfg, history, call), self.runner(call))
        done = sent.result
        flow = finish(self.cfg, sent.pending, done.text, done.usage, ok=True, final=done)
        drive(flow, self.runner(call))
        sent.pending.route.attempts = call.attempts
        return done.text, sent.pending.route

    async def achat(self, history: list[WireMessage]) -> tuple[str, Any]:
        call = CallSpec({})
        sent: Sent = await adrive(route(self.cfg, history, call), self.arunner(call))
        done = sent.result
        await adrive(
            finish(self.cfg, sent.pending, done.text, done.usage, ok=True, final=done),
            self.arunner(call),
        )
        return done.text, sent.pending.route


def conversation(turns: int, rig: Rig, system: str = "sys") -> list[WireMessage]:
    """Run ``turns`` turns through ``rig``; return the history ending with a new user turn."""
    h = [W("system", system), W("user", "u0")]
    for i in range(turns):
        text, _ = rig.chat(h)
        h += [W("assistant", text), W("user", f"u{i + 1}")]
    return h


__all__ = ["TTL", "Clock", "FakeBackend", "Rig", "completion", "conversation"]
