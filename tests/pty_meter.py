"""A meter on the far side of a real pseudo-terminal.

The integration opens `path` with serialx exactly as it opens /dev/ttyUSB0; the
test writes frames into the pty's master end. `path` is a symlink (like the
/dev/serial/by-id links HA users pick), so unplugging and plugging in a new pty
keeps the path the config entry holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
import fcntl
import os
from pathlib import Path
import struct
import termios
import tty
from typing import override

from .peers import NO_FRAME, ByteMeter


class PtyMeter(ByteMeter):
    """Writes frames into a pty; can be unplugged and plugged in again."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.path = str(directory / "ttyHAN0")
        self._master: int | None = None
        self._slave: int | None = None
        self._garbage_unless: Callable[[int], bool] | None = None
        self.plug()

    def plug(self) -> None:
        """A new pty behind the same path (the adapter was plugged in again)."""
        master, slave = os.openpty()
        # Raw from the start: a cooked line discipline would echo and translate CR.
        tty.setraw(slave)
        # Never block the test when nobody reads the other end.
        fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._master, self._slave = master, slave
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.symlink(os.ttyname(slave), self.path)

    def unplug(self) -> None:
        """Close both ends and remove the path: reads fail, reopening fails."""
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    @property
    def baudrate(self) -> int:
        """The speed the reader set (ptys keep the speed, not the parity)."""
        assert self._slave is not None
        return int(termios.tcgetattr(self._slave)[4])

    def unread(self) -> int:
        """Bytes waiting in the pty for the reader (FIONREAD on the port's side)."""
        assert self._slave is not None
        count = struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0" * 4))[0]
        return int(count)

    def send(self, data: bytes) -> None:
        """Write bytes as the meter would; dropped if the pty is full or unplugged."""
        if self._master is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._master, data)

    def start(
        self,
        messages: Sequence[bytes],
        period: float = 0.05,
        *,
        garbage_unless: Callable[[int], bool] | None = None,
    ) -> None:
        """Send `messages` in turn every `period` seconds until stopped.

        With `garbage_unless`, the frames are only sent while it returns True for
        the current baud rate; otherwise bytes that hold no frame are sent, as a
        UART set to the wrong speed would deliver.
        """
        self._garbage_unless = garbage_unless
        super().start(messages, period)

    @override
    def _noise(self) -> bytes | None:
        if self._garbage_unless is None or self._garbage_unless(self.baudrate):
            return None
        return NO_FRAME

    @override
    async def _shut(self) -> None:
        self.unplug()
