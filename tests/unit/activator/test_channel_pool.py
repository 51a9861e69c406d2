"""The activator's pool of gRPC channels to Triton: calls take the channels in turn (each its own
connection, so kube-proxy spreads them over the pods), and a channel past its age is replaced when
next picked, the old one closed with a grace for the calls still on it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from diffusion_operator.activator import channels
from diffusion_operator.activator.channels import OWN_CONNECTION, ChannelPool, insecure_pool


class FakeChannel:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed_with: list[float | None] = []
        self.calls: list[tuple[str, bytes]] = []

    def unary_unary(self, method: str) -> Any:
        async def call(request: bytes, *, metadata: Any = None, timeout: Any = None) -> bytes:
            self.calls.append((method, request))
            return f"{self.number}".encode()

        return call

    async def close(self, grace: float | None = None) -> None:
        self.closed_with.append(grace)


class Opened:
    def __init__(self) -> None:
        self.channels: list[FakeChannel] = []

    def __call__(self) -> Any:
        self.channels.append(FakeChannel(len(self.channels)))
        return self.channels[-1]


def test_calls_take_the_channels_in_turn():
    async def run() -> list[bytes]:
        opened = Opened()
        pool = ChannelPool(opened, clock=lambda: 0.0, size=3)
        infer = pool.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        return [await infer(b"x") for _ in range(7)]

    assert asyncio.run(run()) == [b"0", b"1", b"2", b"0", b"1", b"2", b"0"]


def test_a_channel_past_its_age_is_replaced_when_picked_and_the_old_one_closed_with_a_grace():
    now = [0.0]

    async def run() -> tuple[Opened, list[bytes]]:
        opened = Opened()
        pool = ChannelPool(opened, clock=lambda: now[0], size=2, max_age_s=30.0, close_grace_s=900.0)
        infer = pool.unary_unary("m")
        answers = [await infer(b"a"), await infer(b"b")]
        now[0] = 29.9
        answers.append(await infer(b"c"))  # channel 0, not yet 30 s old
        now[0] = 30.0
        answers += [await infer(b"d"), await infer(b"e")]  # channel 1, then channel 0: both replaced
        await asyncio.sleep(0)  # the background closes run
        return opened, answers

    opened, answers = asyncio.run(run())
    assert answers == [b"0", b"1", b"0", b"2", b"3"]
    assert [channel.closed_with for channel in opened.channels] == [[900.0], [900.0], [], []]


def test_closing_the_pool_closes_every_channel():
    async def run() -> Opened:
        opened = Opened()
        pool = ChannelPool(opened, clock=lambda: 0.0, size=2)
        await pool.close()
        return opened

    assert [channel.closed_with for channel in asyncio.run(run()).channels] == [[None], [None]]


def test_an_empty_pool_is_refused():
    with pytest.raises(ValueError, match="size"):
        ChannelPool(Opened(), clock=lambda: 0.0, size=0)


def test_every_real_channel_asks_for_its_own_connection(monkeypatch: pytest.MonkeyPatch):
    """Channels with equal arguments share one subchannel (one connection) unless each has its own pool."""
    opened: list[tuple[str, list[Any]]] = []

    def insecure_channel(target: str, options: list[Any]) -> FakeChannel:
        opened.append((target, options))
        return FakeChannel(len(opened))

    monkeypatch.setattr(channels.grpc.aio, "insecure_channel", insecure_channel)
    insecure_pool("10.0.0.7:8001", [("grpc.max_send_message_length", -1)], clock=lambda: 0.0, size=3)
    assert opened == [("10.0.0.7:8001", [("grpc.max_send_message_length", -1), OWN_CONNECTION])] * 3
