"""A meter on the far side of a real pseudo-terminal.

The integration opens `path` with serialx exactly as it opens /dev/ttyUSB0; the
test writes frames into the pty's master end. `path` is a symlink (like the
/dev/serial/by-id links HA users pick), so unplugging and plugging in a new pty
keeps the path the config entry holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
import contextlib
import fcntl
import os
from pathlib import Path
import struct
import termios
import tty


class PtyMeter:
    """Writes frames into a pty; can be unplugged and plugged in again."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "ttyHAN0")
        self._master: int | None = None
        self._slave: int | None = None
        self._task: asyncio.Task[None] | None = None
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
        frames: Sequence[bytes],
        period: float = 0.05,
        *,
        garbage_unless: Callable[[int], bool] | None = None,
    ) -> None:
        """Send `frames` in turn every `period` seconds until stopped.

        With `garbage_unless`, the frames are only sent while it returns True for
        the current baud rate; otherwise bytes that hold no frame are sent, as a
        UART set to the wrong speed would deliver.
        """
        self.stop()

        async def run() -> None:
            index = 0
            while True:
                if garbage_unless is not None and not garbage_unless(self.baudrate):
                    self.send(bytes(range(0x80, 0xE0)))
                else:
                    self.send(frames[index % len(frames)])
                    index += 1
                await asyncio.sleep(period)

        self._task = asyncio.get_running_loop().create_task(run())

    def stop(self) -> None:
        """Stop sending (the task is cancelled; await `stopped()` to let it finish)."""
        if self._task is not None:
            self._task.cancel()

    async def stopped(self) -> None:
        """Stop sending and wait for the sender task to end."""
        self.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
