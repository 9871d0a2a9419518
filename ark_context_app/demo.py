"""``ark-context demo``: watch the cache save tokens, offline or on real Ark.

Part 1 runs a six-turn chat through ``ChatArkContext`` (session mode, with a system prompt),
streaming each reply. Part 2 asks a LlamaIndex query engine two questions through
``ArkContextLLM`` (common_prefix mode; a ``VectorStoreIndex`` over five small documents with
``MockEmbedding``, so nothing goes to an embedding service). Each part ends with a per-turn
table and the input cost against resending the full history every turn. Part 3 runs a
tool-using agent on a current model, cached through the Responses API (``agent_demo``).

The adapters, LlamaIndex, LangChain and rich are imported inside the functions: this module
is application code, and importing it does not pull any framework into the core.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ark_context import ArkError

from .agent_demo import agent_part
from .backend import Backend, open_backend
from .costs import Totals, TurnStats
from .render import make_console, pct_less, print_error, print_totals, turn_line, turn_table
from .script import (
    CHAT_TURNS,
    DOCUMENTS,
    QA_SYSTEM_PROMPT,
    QA_USER_TEMPLATE,
    QUESTIONS,
    SYSTEM_PROMPT,
    demo_responder,
)
from .streaming import resend_bytes, stream_turn

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["run_demo"]

#: Reply cap, so that the demo stays short on the real service too.
MAX_TOKENS = 300
#: The shortest ttl Ark allows: the demo's contexts stop costing storage after an hour.
TTL = 3600


def run_demo(
    *,
    model: str | None = None,
    agent_model: str | None = None,
    force_emulator: bool = False,
    chunk_delay: float = 0.01,
    console: Console | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the three parts; returns the process exit status. ``agent_model`` is part 3's
    model on the real service (a Responses-API model; the emulator uses its own)."""
    from rich.text import Text

    con = console if console is not None else make_console()
    try:
        with open_backend(
            model,
            force_emulator=force_emulator,
            environ=environ,
            chunk_delay=chunk_delay,
            responder=demo_responder,
        ) as backend:
            if backend.note:
                con.print(Text.assemble(("note: ", "yellow"), backend.note))
            con.print(
                Text.assemble(("ark-context demo", "bold"), f" on the {backend.describe()}\n")
            )
            chat = _langchain_part(con, backend)
            queries = _llama_index_part(con, backend)
            agent_part(con, backend, agent_model)
    except ArkError as err:
        print_error(con, err)
        return 1
    except KeyboardInterrupt:
        con.print("\ninterrupted")
        return 130
    both = Totals.of([*chat, *queries])
    con.print(
        f"\n[bold]Parts 1 and 2:[/] {both.prompt_tokens:,} prompt tokens, "
        f"{both.cached_tokens:,} served from the cache ({both.hit_pct:.0f}%); input cost "
        f"{both.cost:.6f} CNY instead of {both.baseline_cost:.6f} CNY "
        f"({pct_less(both.cost, both.baseline_cost)})."
    )
    con.print(
        "Next: [bold]make test[/], [bold]ark-context chat[/] (type, see the cache work), "
        "notebooks/ and README.md."
    )
    return 0


# -- part 1: LangChain, session mode --------------------------------------------------------


def _langchain_part(con: Console, backend: Backend) -> list[TurnStats]:
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
    from rich.text import Text

    from langchain_ark_context import ChatArkContext

    con.rule("[bold]1. LangChain: ChatArkContext, mode='session'[/]")
    con.print(
        "A trip-planning chat with a long system prompt. The history is passed in full every "
        "turn, as usual; the router sends only the new turn and the context holds the rest.\n"
    )
    llm = ChatArkContext(**backend.settings(), mode="session", max_tokens=MAX_TOKENS, ttl=TTL)
    history: list[BaseMessage] = [SystemMessage(SYSTEM_PROMPT)]
    turns: list[TurnStats] = []
    for n, (question, _) in enumerate(CHAT_TURNS, 1):
        history.append(HumanMessage(question))
        con.print(Text.assemble(("you > ", "bold cyan"), question))
        con.print(Text("tabi > ", "bold green"), end="")
        reply, stats = stream_turn(con, llm, history, n)
        history.append(AIMessage(reply))
        turns.append(stats)
        con.print(f"  [dim]{turn_line(stats)}[/]\n")
    con.print(turn_table("Per turn (LangChain, session)", turns))
    print_totals(con, Totals.of(turns))
    first = turns[0]
    con.print(
        f"[dim]Turn 1 {first.context_label}: the system prompt became a context "
        f"({first.create_tokens:,} tokens billed once). Later turns sent only the new "
        "message; the context kept everything before it.[/]\n"
    )
    return turns


# -- part 2: LlamaIndex, common_prefix mode -------------------------------------------------


def _llama_index_part(con: Console, backend: Backend) -> list[TurnStats]:
    with con.status("loading LlamaIndex and building the index (MockEmbedding, offline)..."):
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.base.response.schema import StreamingResponse
        from llama_index.core.embeddings import MockEmbedding
        from llama_index.core.llms import ChatMessage, MessageRole
        from llama_index.core.prompts import ChatPromptTemplate
        from rich.text import Text

        from llama_index_ark_context import ArkContextLLM

        llm = ArkContextLLM(
            **backend.settings(), mode="common_prefix", max_tokens=MAX_TOKENS, ttl=TTL
        )
        index = VectorStoreIndex.from_documents(
            [Document(text=text) for text in DOCUMENTS], embed_model=MockEmbedding(embed_dim=16)
        )
        template = ChatPromptTemplate(
            message_templates=[
                ChatMessage(role=MessageRole.SYSTEM, content=QA_SYSTEM_PROMPT),
                ChatMessage(role=MessageRole.USER, content=QA_USER_TEMPLATE),
            ]
        )
        # MockEmbedding ranks nothing, so take every document (they are short).
        engine = index.as_query_engine(
            llm=llm,
            text_qa_template=template,
            similarity_top_k=len(DOCUMENTS),
            streaming=True,
        )
    con.rule("[bold]2. LlamaIndex: ArkContextLLM, mode='common_prefix'[/]")
    con.print(
        "A query engine over five short documents. Its QA system prompt is the same on every "
        "query, so it becomes one shared, read-only context; each query sends only the user "
        "message (retrieved text + question).\n"
    )
    turns: list[TurnStats] = []
    with _recording_llm_calls() as recorded:
        for n, (question, _) in enumerate(QUESTIONS, 1):
            con.print(Text.assemble((f"query {n} > ", "bold cyan"), question))
            recorded.clear()
            started = time.perf_counter()
            with con.status(f"query {n}: retrieving..."):
                answer = engine.query(question)
            if not isinstance(answer, StreamingResponse):  # pragma: no cover - streaming=True
                raise TypeError(f"expected a StreamingResponse, got {type(answer).__name__}")
            con.print(Text("answer > ", "bold green"), end="")
            for token in answer.response_gen:
                con.out(token, end="", highlight=False)
                con.file.flush()
            con.out("")
            latency = time.perf_counter() - started
            calls = list(recorded)
            for messages, extra in calls:
                stats = TurnStats.from_metadata(
                    n,
                    extra,
                    latency_s=latency / len(calls),
                    resend_bytes=resend_bytes(
                        llm.model,
                        messages,
                        max_tokens=MAX_TOKENS,
                        stream=True,
                        stream_options={"include_usage": True},
                    ),
                )
                turns.append(stats)
                con.print(f"  [dim]{turn_line(stats, label='query')}[/]\n")
    con.print(
        turn_table("Per LLM call (LlamaIndex query engine, common_prefix)", turns, label="Query")
    )
    print_totals(con, Totals.of(turns))
    con.print(
        "[dim]common_prefix pays off when the shared system prompt is long next to each "
        "query and is reused by many queries: creation is billed once per prompt, every "
        "later query reads it at the cached price.[/]"
    )
    return turns


@contextlib.contextmanager
def _recording_llm_calls() -> Iterator[list[tuple[list[dict[str, str]], dict[str, Any]]]]:
    """Collect (wire messages, ``additional_kwargs``) of every LLM chat call that finishes."""
    from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler
    from llama_index.core.instrumentation.events import BaseEvent
    from llama_index.core.instrumentation.events.llm import LLMChatEndEvent

    calls: list[tuple[list[dict[str, str]], dict[str, Any]]] = []

    class Recorder(BaseEventHandler):  # type: ignore[misc]
        @classmethod
        def class_name(cls) -> str:
            return "ArkDemoRecorder"

        def handle(self, event: BaseEvent, **kwargs: Any) -> None:
            if isinstance(event, LLMChatEndEvent) and event.response is not None:
                messages = [
                    {"role": str(getattr(m.role, "value", m.role)), "content": m.content or ""}
                    for m in event.messages
                ]
                calls.append((messages, dict(event.response.additional_kwargs)))

    recorder = Recorder()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(recorder)
    try:
        yield calls
    finally:
        dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not recorder]
