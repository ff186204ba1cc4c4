"""The serial side: read chunks from the port, reconnect with backoff.

The reader knows nothing about frames. It hands every chunk to a callback (the
hub's decoder) in the event loop and reports when the port comes and goes. Ports
open through port.py (shared with the command line); this module turns what fails
there, and what Home Assistant's serial proxy raises, into PortError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from typing import Final, TypeGuard, override

from homeassistant.exceptions import HomeAssistantError
import serialx

from . import port
from .const import LOGGER
from .port import (
    READ_ERRORS,
    LineSettings,
    PortOpenError,
    PortStream,
    describe,
    is_network_port,
    line_settings_apply,
    open_stream,
)

# Reconnect backoff (issue #4): 1 s doubling to 60 s.
BACKOFF_INITIAL: Final = 1.0
BACKOFF_MAX: Final = 60.0

# After a chunk arrives on a serial port, stop reading for this long (see
# _ChunkProtocol). Raw TCP bridges already send a frame in one or a few packets, and
# a transport that cannot pause (HA's ESPHome serial proxy) hands over what its
# messages carry: no pause there.
READ_COALESCE: Final = 0.1
# A bridge that lost power leaves a half-open TCP connection that never reports an
# error; silence this long on a network port means: connect again. (Meters send at
# least every 10 s; a serial port that goes quiet is left to the watchdog.)
NETWORK_SILENCE_RECONNECT: Final = 90.0


# The order the config flow tries them in: M-Bus HAN ports in Norway, Sweden and
# Denmark run 2400 8E1 (Kamstrup, Aidon, Kaifa); some adapters or bridges present the
# same stream as 8N1; Austrian/Polish M-Bus push meters use 9600; P1 (DSMR 4/5 and the
# Swedish P1 port) is 115200 8N1; a few 9600 8E1 installations exist; Dutch and
# Belgian meters with a DSMR 2.2/3 P1 port send 9600 7E1. 7E1 comes last, once every
# 8-bit setting had its chance (a 7-bit read drops bit 7 of binary frames); the 8-bit
# settings never decode a 7E1 line: at 9600 8N1 (the same 10-bit character) the
# parity bit lands in bit 7, and the telegram's "/" arrives as 0xAF.
LINE_SETTINGS_TO_TRY: Final = (
    LineSettings(2400, "E"),
    LineSettings(2400, "N"),
    LineSettings(9600, "N"),
    LineSettings(115200, "N"),
    LineSettings(9600, "E"),
    LineSettings(9600, "E", byte_size=7),
)


class PortError(HomeAssistantError):
    """The port could not be opened (missing, busy, refused) or broke while reading."""

    def __init__(self, message: str, *, settings_refused: bool = False) -> None:
        super().__init__(message)
        # The port is there but will not take these line settings (a pty keeps
        # 8N1; an adapter may have no 7 data bits): others may still work.
        self.settings_refused = settings_refused


async def _opened[T](opening: Awaitable[T]) -> T:
    """What `opening` gives; its failure as a PortError."""
    try:
        return await opening
    except PortOpenError as err:
        raise PortError(str(err), settings_refused=err.settings_refused) from err
    except HomeAssistantError as err:
        # HA's ESPHome serial-proxy stub, before ESPHome has loaded.
        raise PortError(describe(err)) from err


async def open_port(device: str, settings: LineSettings) -> PortStream:
    """Open the port for reading (the config flow's listening); PortError when that fails."""
    return await _opened(open_stream(device, settings))


async def close_port(stream: PortStream) -> None:
    """Close without letting a broken port's error escape."""
    await stream.close()


async def read_chunk(stream: PortStream) -> bytes:
    """The next bytes from a port opened with open_port; PortError when it is gone (EOF too)."""
    try:
        chunk = await stream.read()
    except READ_ERRORS as err:
        raise PortError(describe(err)) from err
    if not chunk:
        raise PortError("the port closed")
    return chunk


def can_pause_reading(transport: asyncio.BaseTransport) -> TypeGuard[asyncio.ReadTransport]:
    """Whether `transport` implements pause_reading and resume_reading.

    asyncio.ReadTransport declares both but raises NotImplementedError; serialx's
    local-port, socket and RFC 2217 transports implement them, its ESPHome serial
    proxy transport (HA's esphome-hass:// ports) does not.
    """
    return (
        isinstance(transport, asyncio.ReadTransport)
        and type(transport).pause_reading is not asyncio.ReadTransport.pause_reading
        and type(transport).resume_reading is not asyncio.ReadTransport.resume_reading
    )


class _ChunkProtocol(asyncio.Protocol):
    """Hands every chunk the transport reads straight to `on_chunk`.

    A protocol rather than a read loop: serialx's transport calls data_received from
    its own reader callback, so a frame costs no StreamReader copy, no future and no
    task step, and no timeout handle is armed and cancelled per read.

    With `coalesce`, reading pauses for that long after each chunk. A USB-serial
    adapter hands over a few bytes per USB poll, and a paused port leaves them in the
    kernel's tty buffer, so one read takes them all: ~10 wake-ups per second of data
    instead of one per USB packet (a 2400 baud frame takes about a second to arrive;
    0.1 s of latency costs nothing for a meter that sends every 2.5-10 s). A
    transport that cannot pause just delivers as it reads: an exception out of
    data_received would be logged by it on every chunk, or close the connection.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_chunk: Callable[[bytes], None],
        coalesce: float,
    ) -> None:
        self._loop = loop
        self._on_chunk = on_chunk
        self._coalesce = coalesce
        # The transport while it is to be paused after each chunk, else None.
        self._pausable: asyncio.ReadTransport | None = None
        self._resume: asyncio.TimerHandle | None = None
        self.received = False
        self.last_data = loop.time()
        self.lost: asyncio.Future[str] = loop.create_future()

    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._coalesce and can_pause_reading(transport):
            self._pausable = transport

    @override
    def data_received(self, data: bytes) -> None:
        self.received = True
        self.last_data = self._loop.time()
        self._on_chunk(data)
        if self._pausable is None or self._resume is not None:
            return
        try:
            self._pausable.pause_reading()
        except NotImplementedError:
            # Declared, but the transport it wraps cannot: deliver as read from now on.
            LOGGER.debug("%r cannot pause reading; chunks are not coalesced", self._pausable)
            self._pausable = None
            return
        self._resume = self._loop.call_later(self._coalesce, self._resume_reading)

    def _resume_reading(self) -> None:
        self._resume = None
        transport = self._pausable
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._pausable = None
        if not self.lost.done():
            self.lost.set_result(str(exc) or type(exc).__name__ if exc else "the port closed")


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
        self._transport: serialx.BaseSerialTransport | None = None
        self._protocol: _ChunkProtocol | None = None
        self.connects = 0
        self.disconnects = 0
        self.failed_opens = 0

    async def async_open(self) -> None:
        """Open the port once (setup calls this so a missing port fails setup)."""
        await self._open()
        self.connects += 1
        self._on_connection(True, None)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        coalesce = READ_COALESCE if line_settings_apply(self.device) else 0.0
        transport, protocol = await _opened(
            port.open_port(
                self.device,
                self.settings,
                lambda: _ChunkProtocol(loop, self._on_chunk, coalesce),
            )
        )
        self._transport, self._protocol = transport, protocol

    async def _close(self) -> None:
        transport, self._transport, self._protocol = self._transport, None, None
        if transport is not None:
            with contextlib.suppress(*READ_ERRORS):
                transport.close()
                await transport.wait_closed()

    async def _until_lost(self, protocol: _ChunkProtocol, silence: float | None) -> str:
        """Wait for the port to go; on a network port, silence counts as gone.

        Silence is checked when it could have run out, not re-armed per chunk.
        """
        loop = asyncio.get_running_loop()
        while True:
            timeout = None if silence is None else protocol.last_data + silence - loop.time()
            await asyncio.wait((protocol.lost,), timeout=timeout)
            if protocol.lost.done():
                return protocol.lost.result()
            if silence is not None and loop.time() - protocol.last_data >= silence:
                return f"no data for {silence} s"

    async def run(self) -> None:
        """Read until cancelled; reconnect with backoff when the port goes away."""
        delay = BACKOFF_INITIAL
        silence = NETWORK_SILENCE_RECONNECT if is_network_port(self.device) else None
        try:
            while True:
                if self._protocol is None:
                    try:
                        await self._open()
                    except PortError as err:
                        self.failed_opens += 1
                        LOGGER.debug("Cannot open %s (%s); retry in %s s", self.device, err, delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, BACKOFF_MAX)
                        continue
                    self.connects += 1
                    self._on_connection(True, None)
                protocol = self._protocol
                assert protocol is not None
                reason = await self._until_lost(protocol, silence)
                await self._close()
                self.disconnects += 1
                self._on_connection(False, reason)
                if protocol.received:
                    # Data flowed, so this outage starts again from the short delay.
                    delay = BACKOFF_INITIAL
                # Wait before reopening even after a good session: a port that
                # opens and closes at once must not spin.
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
        finally:
            await self._close()
