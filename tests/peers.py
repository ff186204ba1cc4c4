"""A meter on the far side of a real transport: what every test peer shares.

A peer plays what a meter sends to whoever reads it: bytes into a pty
(pty_meter.PtyMeter), to the clients of a loopback TCP server
(tcp_meter.TcpMeter), through a serial proxy's pipe (serial_proxy.SerialProxy), or
messages through a Mosquitto broker (mqtt_broker.MqttMeter). The transport modules
hold only how bytes get there; pacing, stopping and shutting down are here, once:

    async with TcpMeter() as meter:       # opened, and at the end stopped and shut
        meter.start(frames)                # played in turn, every `period` seconds
        await meter.stopped()              # the pacing task is over
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Sequence
import contextlib
from types import TracebackType
from typing import Final, Self

# Bytes that hold no frame (no HDLC flag, no M-Bus start, no P1 "/"): what a UART set
# to the wrong speed or parity delivers instead of the meter's frames.
NO_FRAME: Final = bytes(range(0x80, 0xE0))


class MeterPeer[M](ABC):
    """Plays messages of type M to a reader over a real transport; an async context manager."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def deliver(self, message: M) -> None:
        """Hand one message to the transport, as the meter sends it."""

    async def open(self) -> None:  # noqa: B027 -- optional: a pty or a topic needs no opening
        """Make the peer reachable (a server listening, a scheme registered)."""

    @abstractmethod
    async def _shut(self) -> None:
        """Release what the transport holds (ports, pipes, retained messages)."""

    def _noise(self) -> M | None:
        """What the reader hears instead of a frame while its line settings are wrong."""
        return None

    async def play(self, messages: Sequence[M], period: float = 0.0) -> None:
        """Deliver `messages` once, in order, `period` seconds apart."""
        for message in messages:
            await self.deliver(message)
            await asyncio.sleep(period)

    def start(self, messages: Sequence[M], period: float = 0.05) -> None:
        """Deliver `messages` in turn, over and over, every `period` seconds until stopped.

        Playing until the test sees what it waits for makes it independent of when
        the reader connects or subscribes. While the reader listens with settings
        that cannot hear the meter, each tick delivers `_noise()` instead.
        """
        self.stop()

        async def repeat() -> None:
            index = 0
            while True:
                noise = self._noise()
                if noise is None:
                    await self.deliver(messages[index % len(messages)])
                    index += 1
                else:
                    await self.deliver(noise)
                await asyncio.sleep(period)

        self._task = asyncio.get_running_loop().create_task(repeat())

    def stop(self) -> None:
        """Stop delivering (the task is cancelled; await `stopped()` to let it end)."""
        if self._task is not None:
            self._task.cancel()

    async def stopped(self) -> None:
        """Stop delivering and wait for the pacing task to end."""
        self.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        """Stop delivering, then shut the transport: nothing outlives the test."""
        await self.stopped()
        await self._shut()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class ByteMeter(MeterPeer[bytes]):
    """A meter on a byte stream (pty, socket, serial proxy): no message boundaries."""

    @abstractmethod
    def send(self, data: bytes) -> None:
        """Write bytes as the meter would; lost while nobody is connected, as on a UART."""

    async def deliver(self, message: bytes) -> None:
        self.send(message)
