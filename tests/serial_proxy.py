"""A meter behind a serial proxy: a serialx URI handler like HA's ESPHome one.

Home Assistant's ESPHome integration registers the `esphome-hass://` scheme with
serialx (homeassistant/components/esphome/serial_proxy.py), and the serial-port
selector lists its ports as `esphome-hass://esphome/<entry id>?port_name=<name>`.
Its transport implements only what asyncio.Transport requires, no pause_reading or
resume_reading, and calls the protocol's data_received from the API client's message
callback. `SerialProxy` registers a transport like that under the same scheme, fed
through a local pipe, and records the line settings each connection asked for: the
proxy carries them to the far UART, where a pty would drop the parity.

The far UART is modelled as far as detection needs it: under the meter's own settings
the bytes arrive as sent; a 7E1 stream read as 8N1 at the same speed (the same 10-bit
character) arrives with each parity bit in bit 7; anything else arrives as bytes that
hold no frame, as framing errors at the wrong speed do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import logging
import os
from typing import Any, override

import serialx
from serialx.common import PortSettingsUpdate

from .peers import NO_FRAME, ByteMeter

SCHEME = "esphome-hass://"

_LOGGER = logging.getLogger(__name__)
_PROXIES: dict[str, SerialProxy] = {}
_SEVEN_BITS = bytes(byte & 0x7F for byte in range(256))
_PARITY_IN_BIT_7 = bytes(byte | (byte.bit_count() & 1) << 7 for byte in range(128)) * 2


@dataclass(frozen=True, slots=True)
class Line:
    """Settings of one end of the serial line."""

    baudrate: int
    parity: str = "N"
    byte_size: int = 8
    stopbits: float = 1

    def __str__(self) -> str:
        return f"{self.baudrate} {self.byte_size}{self.parity}{self.stopbits:g}"

    def receive(self, data: bytes, sent: Line) -> bytes:
        """What a UART set up like this makes of `data` sent under `sent`."""
        if self == sent:
            return data.translate(_SEVEN_BITS) if self.byte_size == 7 else data
        if (
            self.baudrate == sent.baudrate
            and (sent.byte_size, sent.parity, self.byte_size, self.parity) == (7, "E", 8, "N")
            and self.stopbits == sent.stopbits
        ):
            return data.translate(_PARITY_IN_BIT_7)
        return (NO_FRAME * (len(data) // len(NO_FRAME) + 1))[: len(data)]


class ProxyTransport(serialx.BaseSerialTransport):
    """The base asyncio transport methods only: no pause_reading, no resume_reading.

    An exception out of the protocol's data_received is logged with its traceback
    and reading goes on, as aioesphomeapi does with a message callback that raises.
    """

    transport_name = "esphome-hass"

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol) -> None:
        super().__init__(loop, protocol)
        self._proxy: SerialProxy | None = None
        self._pipe: int | None = None
        self.line: Line | None = None

    @override
    async def _connect(self, *, path: str | None = None, **kwargs: Any) -> None:
        proxy = _PROXIES.get(path or "")
        if proxy is None:
            raise serialx.SerialException(f"No serial proxy at {path}")
        self.line = Line(
            baudrate=kwargs["baudrate"],
            parity=serialx.Parity(kwargs["parity"]).value,
            byte_size=kwargs.get("byte_size", 8),
            stopbits=float(serialx.StopBits(kwargs["stopbits"]).value),
        )
        self._proxy = proxy
        self._pipe = proxy.attach(self)
        self._loop.add_reader(self._pipe, self._read_ready)
        self._call_protocol_connection_made()

    def _read_ready(self) -> None:
        assert self._pipe is not None
        data = os.read(self._pipe, 65536)
        try:
            self._protocol.data_received(data)
        except Exception as err:
            self.protocol_failed(err)

    def protocol_failed(self, err: Exception) -> None:
        _LOGGER.exception("Error in serial proxy data callback", exc_info=err)

    @override
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """The meter takes no commands."""

    @override
    def get_write_buffer_size(self) -> int:
        return 0

    @override
    def close(self) -> None:
        if not self._closing:
            self._mark_user_closed()
            self.lose(None)

    @override
    def abort(self) -> None:
        self.close()

    def lose(self, exc: Exception | None) -> None:
        """Release the pipe and tell the protocol (at once, as serialx's ESPHome one)."""
        self._closing = True
        if self._pipe is not None:
            self._loop.remove_reader(self._pipe)
            os.close(self._pipe)
            self._pipe = None
        if self._proxy is not None:
            self._proxy.detach(self)
        self._call_protocol_connection_lost(exc)

    @override
    async def _flush(self) -> None:
        pass

    @override
    async def _get_modem_pins(self) -> serialx.ModemPins:
        return serialx.ModemPins()

    @override
    async def _set_modem_pins(self, modem_pins: serialx.ModemPins) -> None:
        pass

    @override
    async def _reconfigure_port(self, update: PortSettingsUpdate) -> None:
        raise serialx.UnsupportedSetting("set the line settings when opening")


class ClosingProxyTransport(ProxyTransport):
    """Closes the connection when data_received raises, as asyncio's own transports do."""

    @override
    def protocol_failed(self, err: Exception) -> None:
        _LOGGER.error("Fatal error: protocol.data_received() call failed", exc_info=err)
        self.lose(err)


class ForwardingProxyTransport(ProxyTransport):
    """Declares pause_reading/resume_reading, but what it forwards to has neither."""

    @override
    def pause_reading(self) -> None:
        super().pause_reading()

    @override
    def resume_reading(self) -> None:
        super().resume_reading()


class SerialProxy(ByteMeter):
    """A meter's UART behind a serial proxy; `url` is what HA's port list shows.

    As a context manager it is registered for the duration; a connection still open at
    the end is left to its owner.
    """

    def __init__(
        self,
        meter_line: Line,
        transport_cls: type[ProxyTransport] = ProxyTransport,
        *,
        entry_id: str = "01JPROXYENTRY00000000000000",
    ) -> None:
        super().__init__()
        self.url = f"{SCHEME}esphome/{entry_id}?port_name=HAN"
        self.meter_line = meter_line
        self.opened: list[str] = []  # the settings of every connection, in order
        self._transport_cls = transport_cls
        self._connection: tuple[ProxyTransport, int] | None = None
        self._unregister: Callable[[], None] | None = None

    @override
    async def open(self) -> None:
        """Make serialx open `url` through this proxy (under the ESPHome scheme)."""
        self._unregister = serialx.register_uri_handler(
            scheme=SCHEME,
            unique_scheme="esphome-hass-test://",
            sync_cls=serialx.BaseSerial,  # HAN Port opens ports through asyncio only
            async_transport_cls=self._transport_cls,
            weight=2,
        )
        _PROXIES[self.url] = self

    @override
    async def _shut(self) -> None:
        """Take the scheme back; an open connection stays open."""
        _PROXIES.pop(self.url, None)
        if self._unregister is not None:
            self._unregister()
            self._unregister = None

    def attach(self, transport: ProxyTransport) -> int:
        """A connection opened: the read end of its pipe."""
        assert self._connection is None, "the proxy serves one connection at a time"
        assert transport.line is not None
        self.opened.append(str(transport.line))
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._connection = (transport, write_end)
        return read_end

    def detach(self, transport: ProxyTransport) -> None:
        if self._connection is not None and self._connection[0] is transport:
            os.close(self._connection[1])
            self._connection = None

    def drop(self) -> None:
        """The proxy's device went away: the open connection is lost with an error."""
        assert self._connection is not None
        self._connection[0].lose(ConnectionResetError("serial proxy disconnected"))

    @property
    def connected(self) -> bool:
        return self._connection is not None

    @override
    def send(self, data: bytes) -> None:
        """Bytes from the meter; lost while no one is connected, like on a UART."""
        if self._connection is None:
            return
        transport, write_end = self._connection
        assert transport.line is not None
        with contextlib.suppress(BlockingIOError):
            os.write(write_end, transport.line.receive(data, self.meter_line))
