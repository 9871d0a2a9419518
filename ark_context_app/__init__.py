"""The application layer behind ``ark-context demo`` and ``ark-context chat``.

The core never imports this package. Its modules import the adapters
(``langchain_ark_context``, ``llama_index_ark_context``), the emulator and ``rich`` lazily,
inside the functions that need them, so ``import ark_context`` still depends on httpx and
pydantic only, and ``import ark_context_app.costs`` stays cheap for notebooks and tests.

- :mod:`~ark_context_app.costs`: per-turn statistics and the cost arithmetic (pure).
- :mod:`~ark_context_app.backend`: the in-process emulator, or the real Ark service when
  ``ARK_API_KEY`` and an endpoint id are given.
- :mod:`~ark_context_app.demo`: ``ark-context demo`` (LangChain session chat, then a
  LlamaIndex query engine), with a per-turn table and the savings against full resend.
- :mod:`~ark_context_app.chat`: ``ark-context chat``, a REPL that shows cache statistics
  after every turn.
"""
