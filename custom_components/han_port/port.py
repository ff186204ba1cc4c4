"""Opening a meter's port: one function for the reader, the config flow and the CLI.

A local adapter (/dev/ttyUSB0), a network bridge (socket://, rfc2217://) or HA's
ESPHome serial proxy (esphome-hass://) all open through serialx with the line settings
given and one stop bit. `open_port` hands the chunks to an asyncio protocol (the
integration's reader); `open_stream` wraps the same in a stream to read from (the
config flow's listening, `python -m custom_components.han_port.han listen`).

No Home Assistant here, so that the command line can use it: errors come out as
PortOpenError, and reader.py maps them (and what HA's serial proxy raises) to the
integration's PortError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import errno
from typing import Final

import serialx

from .const import DEFAULT_BYTE_SIZE

# Network bridges that never answer should not hold the setup, the config flow or the
# command line for long.
CONNECT_TIMEOUT: Final = 10.0
READ_SIZE: Final = 65536

# What serialx raises while it opens a port: OSError (missing, busy, or EINVAL when
# the termios settings did not stick: glibc checks parity and data bits after
# setting them), SerialException, ValueError (a URL it has no handler for).
OPEN_ERRORS: Final = (OSError, serialx.SerialException, ValueError)
# What a read from an open port raises when the port is gone.
READ_ERRORS: Final = (OSError, serialx.SerialException)


@dataclass(frozen=True, slots=True)
class LineSettings:
    """How the UART is set up: baud rate, parity and data bits; always 1 stop bit."""

    baudrate: int
    parity: str  # serialx.Parity value: "N" or "E"
    byte_size: int = DEFAULT_BYTE_SIZE  # 7 only for old P1 ports (DSMR 2.2/3: 9600 7E1)

    def __str__(self) -> str:
        return f"{self.baudrate} {self.byte_size}{self.parity}1"


def is_network_port(device: str) -> bool:
    """A URL (socket://, rfc2217://, esphome://...) rather than a local device path."""
    return "://" in device


# Raw TCP bridges (ser2net in raw mode, ESPHome stream servers) pass bytes only: the
# baud rate and parity are set on the bridge. RFC 2217 and HA's ESPHome serial proxy
# do carry the settings to the far UART, so those are tried like a local port.
_RAW_STREAM_SCHEMES: Final = ("socket://", "tcp://")


def line_settings_apply(device: str) -> bool:
    """Whether the baud rate and parity we ask for reach the meter's UART."""
    return not device.lower().startswith(_RAW_STREAM_SCHEMES)


class PortOpenError(Exception):
    """The port could not be opened: missing, busy, refused, or an unknown URL."""

    def __init__(self, message: str, *, settings_refused: bool = False) -> None:
        super().__init__(message)
        # The port is there but will not take these line settings (a pty keeps
        # 8N1; an adapter may have no 7 data bits): others may still work.
        self.settings_refused = settings_refused


def describe(err: BaseException) -> str:
    """An error as a short message (some serial errors have no text of their own)."""
    return str(err) or type(err).__name__


async def open_port[P: asyncio.Protocol](
    url: str, settings: LineSettings, protocol_factory: Callable[[], P]
) -> tuple[serialx.BaseSerialTransport, P]:
    """Open `url` with `settings`; the protocol gets what the port reads.

    Raises PortOpenError (and whatever a URL handler outside serialx raises, such as
    Home Assistant's ESPHome serial proxy before ESPHome has loaded).
    """
    protocol = protocol_factory()
    try:
        transport, _ = await serialx.create_serial_connection(
            asyncio.get_running_loop(),
            lambda: protocol,
            url,
            baudrate=settings.baudrate,
            parity=serialx.Parity(settings.parity),
            stopbits=serialx.StopBits.ONE,
            byte_size=settings.byte_size,
            connect_timeout=CONNECT_TIMEOUT,
        )
    except OPEN_ERRORS as err:
        refused = isinstance(err, serialx.UnsupportedSetting) or (
            isinstance(err, OSError) and err.errno == errno.EINVAL
        )
        raise PortOpenError(describe(err), settings_refused=refused) from err
    return transport, protocol


@dataclass(slots=True)
class PortStream:
    """An open port read as a stream of chunks."""

    transport: serialx.BaseSerialTransport
    _reader: asyncio.StreamReader

    async def read(self) -> bytes:
        """The next bytes, as many as have arrived; b"" once the port closed.

        Raises one of READ_ERRORS when the port breaks.
        """
        return await self._reader.read(READ_SIZE)

    async def close(self) -> None:
        """Close and wait until the port is released; a broken port's error stays here."""
        with contextlib.suppress(*READ_ERRORS):
            self.transport.close()
            await self.transport.wait_closed()


async def open_stream(url: str, settings: LineSettings) -> PortStream:
    """Open `url` with `settings` for reading chunk by chunk (see open_port for errors)."""
    reader = asyncio.StreamReader()
    transport, _ = await open_port(url, settings, lambda: asyncio.StreamReaderProtocol(reader))
    return PortStream(transport, reader)
