"""The serial side: open the port with serialx, read chunks, reconnect with backoff.

The reader knows nothing about frames. It hands every chunk to a callback (the
hub's decoder) in the event loop and reports when the port comes and goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from typing import Final

from homeassistant.exceptions import HomeAssistantError
import serialx

from .const import LOGGER

# Reconnect backoff (issue #4): 1 s doubling to 60 s.
BACKOFF_INITIAL: Final = 1.0
BACKOFF_MAX: Final = 60.0

# After a chunk arrives, let the port collect more bytes before waking up again. A
# USB-serial adapter hands over a few bytes per USB poll, so reading eagerly would
# wake the event loop dozens of times per frame; 0.1 s of latency costs nothing for
# a meter that sends every 2.5-10 s and cuts the wake-ups to ~10 per second of data.
# Raw TCP bridges already send a frame in one or a few packets: no pause there.
READ_COALESCE: Final = 0.1
READ_SIZE: Final = 65536

# Network bridges (socket://, rfc2217://, esphome://) that never answer should not
# hold the setup or the config flow for long.
CONNECT_TIMEOUT: Final = 10.0
# A bridge that lost power leaves a half-open TCP connection that never reports an
# error; silence this long on a network port means: connect again. (Meters send at
# least every 10 s; a serial port that goes quiet is left to the watchdog.)
NETWORK_SILENCE_RECONNECT: Final = 90.0


@dataclass(frozen=True, slots=True)
class LineSettings:
    """How the UART is set up: baud rate and parity; always 8 data bits, 1 stop bit."""

    baudrate: int
    parity: str  # serialx.Parity value: "N" or "E"

    def __str__(self) -> str:
        return f"{self.baudrate} 8{self.parity}1"


# The order the config flow tries them in: M-Bus HAN ports in Norway, Sweden and
# Denmark run 2400 8E1 (Kamstrup, Aidon, Kaifa); some adapters or bridges present the
# same stream as 8N1; Austrian/Polish M-Bus push meters use 9600; P1 (DSMR 4/5 and the
# Swedish P1 port) is 115200 8N1; a few 9600 8E1 installations exist.
LINE_SETTINGS_TO_TRY: Final = (
    LineSettings(2400, "E"),
    LineSettings(2400, "N"),
    LineSettings(9600, "N"),
    LineSettings(115200, "N"),
    LineSettings(9600, "E"),
)


class PortError(HomeAssistantError):
    """The port could not be opened (missing, busy, refused) or broke while reading."""


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


async def open_port(device: str, settings: LineSettings) -> serialx.AsyncSerial:
    """Open the port for reading; PortError when that fails."""
    port = serialx.async_serial_for_url(
        device,
        baudrate=settings.baudrate,
        parity=serialx.Parity(settings.parity),
        stopbits=serialx.StopBits.ONE,
        byte_size=8,
        connect_timeout=CONNECT_TIMEOUT,
    )
    try:
        await port.open()
    except (OSError, serialx.SerialException, ValueError, HomeAssistantError) as err:
        # ValueError: a URL serialx has no handler for. HomeAssistantError: HA's
        # ESPHome serial-proxy stub before ESPHome has loaded.
        raise PortError(str(err) or type(err).__name__) from err
    return port


async def close_port(port: serialx.AsyncSerial) -> None:
    """Close without letting a broken port's error escape."""
    with contextlib.suppress(OSError, serialx.SerialException):
        await port.close()


async def read_chunk(port: serialx.AsyncSerial, silence: float | None = None) -> bytes:
    """The next bytes from the port; PortError when it is gone (EOF counts).

    With `silence`, no bytes for that many seconds counts as gone too.
    """
    try:
        async with asyncio.timeout(silence):
            chunk = await port.read(READ_SIZE)
    except TimeoutError as err:
        raise PortError(f"no data for {silence} s") from err
    except (OSError, serialx.SerialException) as err:
        raise PortError(str(err) or type(err).__name__) from err
    if not chunk:
        raise PortError("the port closed")
    return chunk


class MeterReader:
    """Keeps one port open and feeds what it reads to `on_chunk`.

    `on_connection(connected, reason)` is called when the port opens and when it is
    lost; the hub decides what to log and which entities to mark unavailable.
    """

    def __init__(
        self,
        device: str,
        settings: LineSettings,
        on_chunk: Callable[[bytes], None],
        on_connection: Callable[[bool, str | None], None],
    ) -> None:
        self.device = device
        self.settings = settings
        self._on_chunk = on_chunk
        self._on_connection = on_connection
        self._port: serialx.AsyncSerial | None = None
        self.connects = 0
        self.disconnects = 0
        self.failed_opens = 0

    async def async_open(self) -> None:
        """Open the port once (setup calls this so a missing port fails setup)."""
        self._port = await open_port(self.device, self.settings)
        self.connects += 1
        self._on_connection(True, None)

    async def run(self) -> None:
        """Read until cancelled; reconnect with backoff when the port goes away."""
        delay = BACKOFF_INITIAL
        silence = NETWORK_SILENCE_RECONNECT if is_network_port(self.device) else None
        coalesce = READ_COALESCE if line_settings_apply(self.device) else 0.0
        try:
            while True:
                if self._port is None:
                    try:
                        self._port = await open_port(self.device, self.settings)
                    except PortError as err:
                        self.failed_opens += 1
                        LOGGER.debug("Cannot open %s (%s); retry in %s s", self.device, err, delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, BACKOFF_MAX)
                        continue
                    self.connects += 1
                    self._on_connection(True, None)
                try:
                    chunk = await read_chunk(self._port, silence)
                except PortError as err:
                    port, self._port = self._port, None
                    await close_port(port)
                    self.disconnects += 1
                    self._on_connection(False, str(err))
                    # Wait before reopening even after a good session: a port that
                    # opens and closes at once must not spin.
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                # Data flows, so the next outage starts again from the short delay.
                delay = BACKOFF_INITIAL
                self._on_chunk(chunk)
                if coalesce:
                    await asyncio.sleep(coalesce)
        finally:
            if self._port is not None:
                port, self._port = self._port, None
                await close_port(port)
