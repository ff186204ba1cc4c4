"""The reader on its own: chunks in, coalescing on serial ports, none on bridges.

Bytes travel through a real pty or a loopback TCP socket into a real MeterReader;
the test only collects what it hands over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import contextlib
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

from custom_components.han_port import reader as reader_module
from custom_components.han_port.reader import (
    LineSettings,
    MeterReader,
    PortError,
    close_port,
    open_port,
    read_chunk,
)

from .conftest import until
from .pty_meter import PtyMeter
from .tcp_meter import TcpMeter

SETTINGS = LineSettings(2400, "N")  # 8N1: a pty drops the parity bit (see conftest)
PIECES = [bytes([0x7E, n]) * 4 for n in range(10)]


class Collected:
    """What the reader handed over: chunks, and (connected, reason) changes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.connection: list[tuple[bool, str | None]] = []

    def on_connection(self, connected: bool, reason: str | None) -> None:
        self.connection.append((connected, reason))


@contextlib.asynccontextmanager
async def running(device: str) -> AsyncGenerator[tuple[MeterReader, Collected]]:
    collected = Collected()
    reader = MeterReader(device, SETTINGS, collected.chunks.append, collected.on_connection)
    await reader.async_open()
    task = asyncio.get_running_loop().create_task(reader.run())
    try:
        yield reader, collected
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _send_slowly(send: object, gap: float) -> None:
    for piece in PIECES:
        send(piece)  # type: ignore[operator]
        await asyncio.sleep(gap)


async def test_serial_port_coalesces_chunks(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Bytes trickling in (as from a USB adapter) reach the hub in a few chunks."""
    with patch.object(reader_module, "READ_COALESCE", 0.5):
        async with running(meter.path) as (_, collected):
            await _send_slowly(meter.send, 0.02)
            await until(lambda: b"".join(collected.chunks) == b"".join(PIECES))
    # The first piece at once, the rest after the pause: not one chunk per piece.
    assert len(collected.chunks) <= 3
    assert collected.chunks[0] == PIECES[0]
    assert collected.connection == [(True, None)]


async def test_network_port_is_not_delayed(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    """A raw TCP bridge sends whole frames: each is handed over as it comes."""
    with patch.object(reader_module, "READ_COALESCE", 5.0):
        async with running(tcp_meter.url) as (_, collected):
            await until(lambda: tcp_meter.clients == 1)
            await _send_slowly(tcp_meter.send, 0.05)
            await until(lambda: b"".join(collected.chunks) == b"".join(PIECES), within=2.0)
    assert len(collected.chunks) == len(PIECES)


async def test_lost_port_is_reported_and_reopened(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    """The bridge drops the connection: reported once, then the reader reconnects."""
    async with running(tcp_meter.url) as (reader, collected):
        await until(lambda: tcp_meter.clients == 1)
        tcp_meter.send(PIECES[0])
        await until(lambda: collected.chunks == [PIECES[0]])
        await tcp_meter.drop_clients()
        await until(lambda: reader.connects == 2)
        tcp_meter.send(PIECES[1])
        await until(lambda: collected.chunks == PIECES[:2])
    assert reader.disconnects == 1
    assert [connected for connected, _ in collected.connection] == [True, False, True]


async def test_open_failure_is_a_port_error(hass: HomeAssistant, tmp_path: object) -> None:
    """A missing device fails async_open with PortError (setup turns it into not-ready)."""
    reader = MeterReader(f"{tmp_path}/ttyMISSING", SETTINGS, print, print)
    with pytest.raises(PortError):
        await reader.async_open()


async def test_read_chunk_until_the_bridge_closes(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    """The config flow's reads: bytes, then PortError once the connection is gone."""
    port = await open_port(tcp_meter.url, SETTINGS)
    try:
        await until(lambda: tcp_meter.clients == 1)
        tcp_meter.send(PIECES[0])
        assert await read_chunk(port) == PIECES[0]
        await tcp_meter.drop_clients()
        with pytest.raises(PortError):
            await read_chunk(port)
    finally:
        await close_port(port)
