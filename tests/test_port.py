"""Opening ports: the one function the reader, the config flow and the command line share.

Bytes travel through a real pty or a loopback TCP socket. `hass` is requested so that
serialx's executor jobs run on Home Assistant's executor, which the test harness
shuts down (and checks for leftover threads).
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

from homeassistant.core import HomeAssistant
import pytest

from custom_components.han_port import port
from custom_components.han_port.port import (
    LineSettings,
    PortOpenError,
    is_network_port,
    line_settings_apply,
    open_port,
    open_stream,
)
from devtools.corpus import capture

from .conftest import KAMSTRUP_LIST1, until
from .pty_meter import PtyMeter
from .tcp_meter import TcpMeter

SETTINGS = LineSettings(2400, "N")  # 8N1: a pty keeps no parity bit (see conftest)


def test_line_settings_read_as_people_write_them() -> None:
    assert str(LineSettings(2400, "E")) == "2400 8E1"
    assert str(LineSettings(9600, "E", 7)) == "9600 7E1"


def test_which_ports_take_line_settings() -> None:
    """Raw TCP streams do not; local ports, RFC 2217 and serial proxies do."""
    assert not line_settings_apply("socket://192.168.1.50:3000")
    assert not line_settings_apply("TCP://bridge:23")
    assert line_settings_apply("rfc2217://bridge:4000")
    assert line_settings_apply("esphome://han-reader.local")
    assert line_settings_apply("/dev/serial/by-id/usb-FTDI-if00-port0")


def test_which_ports_are_network_ports() -> None:
    assert is_network_port("socket://192.168.1.50:3000")
    assert is_network_port("esphome-hass://han-reader/uart")
    assert not is_network_port("/dev/ttyUSB0")


def test_the_module_does_without_home_assistant() -> None:
    """The command line opens ports with it: no Home Assistant import, direct or from."""
    tree = ast.parse(Path(port.__file__).read_text(encoding="utf-8"))
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported
    assert not [name for name in imported if name.startswith("homeassistant")]


async def test_stream_reads_what_the_pty_meter_sends(hass: HomeAssistant, meter: PtyMeter) -> None:
    stream = await open_stream(meter.path, SETTINGS)
    try:
        meter.send(capture(KAMSTRUP_LIST1))
        received = b""
        while len(received) < len(capture(KAMSTRUP_LIST1)):
            received += await asyncio.wait_for(stream.read(), 5)
        assert received == capture(KAMSTRUP_LIST1)
    finally:
        await stream.close()
    await stream.close()  # closing twice is harmless


async def test_stream_ends_when_the_bridge_hangs_up(
    hass: HomeAssistant, tcp_meter: TcpMeter
) -> None:
    stream = await open_stream(tcp_meter.url, SETTINGS)
    try:
        await until(lambda: tcp_meter.clients == 1)
        await tcp_meter.drop_clients()
        assert await asyncio.wait_for(stream.read(), 5) == b""
    finally:
        await stream.close()


async def test_protocol_gets_the_chunks(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    received: list[bytes] = []

    class Collect(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            received.append(data)

    transport, protocol = await open_port(tcp_meter.url, SETTINGS, Collect)
    try:
        assert isinstance(protocol, Collect)
        await until(lambda: tcp_meter.clients == 1)
        tcp_meter.send(b"\x7e\xa0")
        await until(lambda: b"".join(received) == b"\x7e\xa0")
    finally:
        transport.close()
        await transport.wait_closed()


@pytest.mark.parametrize("url", ["{tmp}/ttyMISSING", "nosuchscheme://meter", "socket://"])
async def test_what_cannot_be_opened_is_a_port_open_error(
    hass: HomeAssistant, tmp_path: Path, url: str
) -> None:
    with pytest.raises(PortOpenError) as raised:
        await open_stream(url.format(tmp=tmp_path), SETTINGS)
    assert str(raised.value)
    assert not raised.value.settings_refused


async def test_settings_the_port_will_not_take_are_said_to_be_refused(
    hass: HomeAssistant, meter: PtyMeter
) -> None:
    """A pty keeps 8N1: asked for 7E1 at the speed it runs at, tcsetattr fails (EINVAL)."""
    await (await open_stream(meter.path, SETTINGS)).close()  # now it runs at 2400
    with pytest.raises(PortOpenError) as raised:
        await open_stream(meter.path, LineSettings(2400, "E", 7))
    assert raised.value.settings_refused
