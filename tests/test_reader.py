"""The reader: chunks in, coalescing on serial ports, none on bridges and proxies.

Bytes travel through a real pty, a loopback TCP socket or a serial proxy's pipe into
a real MeterReader; the test only collects what it hands over. The coalescing pause
runs on the event loop's clock, which async_fire_time_changed moves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import contextlib
from datetime import timedelta
import logging
from typing import Any, override
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.han_port import reader as reader_module
from custom_components.han_port.const import CONF_BAUDRATE, CONF_BYTE_SIZE, CONF_PARITY
from custom_components.han_port.diagnostics import async_get_config_entry_diagnostics
from custom_components.han_port.port import LineSettings, open_stream
from custom_components.han_port.reader import (
    LINE_SETTINGS_TO_TRY,
    MeterReader,
    PortError,
    close_port,
    open_port,
    read_chunk,
)
from devtools.corpus import capture

from .conftest import P1_NL, built_frame, make_entry, set_up, state_of, until, without_crc
from .pty_meter import PtyMeter
from .serial_proxy import (
    ClosingProxyTransport,
    ForwardingProxyTransport,
    Line,
    ProxyTransport,
    SerialProxy,
)
from .tcp_meter import TcpMeter

SETTINGS = LineSettings(2400, "N")  # 8N1: a pty drops the parity bit (see conftest)
PIECES = [bytes([0x7E, n]) * 4 for n in range(10)]
POWER = "sensor.kamstrup_active_power_import"

# How a transport that cannot pause treats an exception out of data_received:
# logged on every chunk (aioesphomeapi, under HA's ESPHome serial proxy), the
# connection closed (asyncio's own transports), or pause_reading declared but
# forwarded to something that has none.
PROXY_TRANSPORTS = pytest.mark.parametrize(
    "transport_cls",
    [ProxyTransport, ClosingProxyTransport, ForwardingProxyTransport],
    ids=["logs", "closes", "forwards"],
)


class Collected:
    """What the reader handed over: chunks, and (connected, reason) changes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.connection: list[tuple[bool, str | None]] = []

    def on_connection(self, connected: bool, reason: str | None) -> None:
        self.connection.append((connected, reason))


@contextlib.asynccontextmanager
async def running(
    device: str, settings: LineSettings = SETTINGS
) -> AsyncGenerator[tuple[MeterReader, Collected]]:
    collected = Collected()
    reader = MeterReader(device, settings, collected.chunks.append, collected.on_connection)
    await reader.async_open()
    task = asyncio.get_running_loop().create_task(reader.run())
    try:
        yield reader, collected
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records that carry an exception or mention the pause that is not there."""
    return [
        record
        for record in caplog.records
        if record.exc_info or "NotImplementedError" in record.getMessage()
    ]


async def test_serial_port_coalesces_chunks(hass: HomeAssistant, meter: PtyMeter) -> None:
    """After a chunk the port is left alone; what came meanwhile is one read later."""
    rest = b"".join(PIECES)
    with patch.object(reader_module, "READ_COALESCE", 60.0):
        async with running(meter.path) as (_, collected):
            meter.send(b"\x7e")
            await until(lambda: collected.chunks == [b"\x7e"])
            for piece in PIECES:
                meter.send(piece)
            # Every piece waits in the tty buffer, unread through several loop turns.
            await until(lambda: meter.unread() == len(rest))
            for _ in range(5):
                await asyncio.sleep(0)
            assert collected.chunks == [b"\x7e"]

            async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
            await until(lambda: len(b"".join(collected.chunks)) == 1 + len(rest))
    assert collected.chunks == [b"\x7e", rest]
    assert collected.connection == [(True, None)]


async def test_network_port_is_not_delayed(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    """A raw TCP bridge sends whole frames: each is handed over as it comes."""
    with patch.object(reader_module, "READ_COALESCE", 60.0):
        async with running(tcp_meter.url) as (_, collected):
            await until(lambda: tcp_meter.clients == 1)
            for count, piece in enumerate(PIECES, 1):
                tcp_meter.send(piece)
                # No clock moves on: a paused reader would never take the next piece.
                await until(lambda count=count: len(collected.chunks) == count)
    assert collected.chunks == PIECES


@PROXY_TRANSPORTS
async def test_serial_proxy_hands_over_every_chunk(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    transport_cls: type[ProxyTransport],
) -> None:
    """A transport that cannot pause reads on: no traceback, no reconnect, nothing lost."""
    async with SerialProxy(Line(2400), transport_cls) as proxy:
        with patch.object(reader_module, "READ_COALESCE", 60.0):
            async with running(proxy.url) as (reader, collected):
                for count, piece in enumerate(PIECES, 1):
                    proxy.send(piece)
                    await until(lambda count=count: len(collected.chunks) == count)
    assert collected.chunks == PIECES
    assert collected.connection == [(True, None)]
    assert (reader.connects, reader.disconnects) == (1, 0)
    assert proxy.opened == ["2400 8N1"]
    assert _tracebacks(caplog) == []


@PROXY_TRANSPORTS
@pytest.mark.usefixtures("integration")
async def test_entry_on_a_serial_proxy(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    fake_clock: list[float],
    transport_cls: type[ProxyTransport],
) -> None:
    """An entry on an ESPHome serial proxy port reads frame after frame, chunk by chunk.

    The entry predates 7E1 detection (no byte size in its data): 8 data bits.
    """
    async with SerialProxy(Line(2400, "E"), transport_cls) as proxy:
        entry = make_entry(proxy.url, seen=["1.7.0"], **{CONF_PARITY: "E"})
        assert CONF_BYTE_SIZE not in entry.data
        await set_up(hass, entry)
        hub = entry.runtime_data.hub
        for power in range(1000, 1020):
            data = built_frame("kamstrup", "list1", {"1.7.0": power})
            for piece in (data[:20], data[20:50], data[50:]):
                total = hub.decoder.stats.bytes_in + len(piece)
                proxy.send(piece)
                await until(lambda total=total: hub.decoder.stats.bytes_in == total)
            await until(lambda power=power: state_of(hass, POWER) == str(power))
            fake_clock[0] += 10  # past the 5 s between power updates
        reader = entry.runtime_data.reader
        assert (reader.connects, reader.disconnects) == (1, 0)
        assert hub.decoder.stats.readings == 20
        assert proxy.opened == ["2400 8E1"]
        assert _tracebacks(caplog) == []


@pytest.mark.usefixtures("integration")
async def test_entry_on_a_7e1_p1_port(hass: HomeAssistant) -> None:
    """DSMR 2.2/3 P1: the port opens at 9600 7E1, the telegrams decode, diagnostics say so."""
    async with SerialProxy(Line(9600, "E", 7)) as proxy:
        entry = await set_up(
            hass,
            make_entry(
                proxy.url,
                unique_id=None,
                seen=["1.7.0"],
                **{CONF_BAUDRATE: 9600, CONF_PARITY: "E", CONF_BYTE_SIZE: 7},
            ),
        )
        hub = entry.runtime_data.hub
        proxy.send(without_crc(capture(P1_NL)))
        await until(lambda: hub.decoder.stats.readings == 1)
        assert state_of(hass, POWER) == "244"
        assert proxy.opened == ["9600 7E1"]
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        assert diagnostics["connection"]["settings"] == "9600 7E1"


async def test_open_port_asks_for_the_line_settings(hass: HomeAssistant) -> None:
    """The config flow's port gets exactly the settings under test, 8E1 and 7E1 included."""
    async with SerialProxy(Line(2400, "E")) as proxy:
        for settings in LINE_SETTINGS_TO_TRY:
            await close_port(await open_port(proxy.url, settings))
    assert proxy.opened == [str(settings) for settings in LINE_SETTINGS_TO_TRY]
    assert proxy.opened[0] == "2400 8E1"
    assert proxy.opened[-1] == "9600 7E1"


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


@pytest.mark.parametrize("transport", ["tcp", "proxy"])
async def test_read_chunk_until_the_port_closes(
    hass: HomeAssistant, tcp_meter: TcpMeter, transport: str
) -> None:
    """The config flow's reads: bytes, then PortError once the connection is gone."""
    async with SerialProxy(Line(2400)) as proxy:
        if transport == "tcp":
            url, send = tcp_meter.url, tcp_meter.send
        else:
            url, send = proxy.url, proxy.send
        port = await open_port(url, SETTINGS)
        try:
            await until(lambda: tcp_meter.clients == 1 or proxy.connected)
            send(PIECES[0])
            assert await read_chunk(port) == PIECES[0]
            if transport == "tcp":
                await tcp_meter.drop_clients()
            else:
                proxy.drop()
            with pytest.raises(PortError):
                await read_chunk(port)
        finally:
            await close_port(port)


class NotLoadedProxyTransport(ProxyTransport):
    """HA's serial-proxy stub until ESPHome has loaded: ConfigEntryNotReady on connect."""

    @override
    async def _connect(self, *, path: str | None = None, **kwargs: Any) -> None:
        raise ConfigEntryNotReady("ESPHome is not loaded yet")


async def test_serial_proxy_not_loaded_is_a_port_error(hass: HomeAssistant) -> None:
    """port.py lets Home Assistant's error through; the reader turns it into PortError."""
    async with SerialProxy(Line(2400), NotLoadedProxyTransport) as proxy:
        with pytest.raises(ConfigEntryNotReady):
            await open_stream(proxy.url, SETTINGS)
        with pytest.raises(PortError, match="ESPHome is not loaded yet") as raised:
            await open_port(proxy.url, SETTINGS)
        assert not raised.value.settings_refused
        reader = MeterReader(proxy.url, SETTINGS, print, print)
        with pytest.raises(PortError, match="ESPHome is not loaded yet"):
            await reader.async_open()
