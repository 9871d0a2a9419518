"""Fakes shared by the client tests."""

from __future__ import annotations


class FakeSleep:
    """A ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class AsyncFakeSleep(FakeSleep):
    """The async :class:`FakeSleep`."""

    async def __call__(self, seconds: float) -> None:  # type: ignore[override]
        self.delays.append(seconds)
