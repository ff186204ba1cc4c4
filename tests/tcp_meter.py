"""A meter behind a network bridge (ser2net, an ESP): a real loopback TCP server.

The integration connects to `url` (socket://127.0.0.1:port) through serialx.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import contextlib


class TcpMeter:
    """Sends frames to every connected client; can drop the clients."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start_server(self) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._clients.add(writer)

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"socket://127.0.0.1:{port}"

    @property
    def clients(self) -> int:
        """How many connections are open."""
        return len(self._clients)

    def send(self, data: bytes) -> None:
        for writer in list(self._clients):
            if writer.is_closing():
                self._clients.discard(writer)
            else:
                writer.write(data)

    def start(self, frames: Sequence[bytes], period: float = 0.05) -> None:
        """Send `frames` in turn every `period` seconds until stopped."""
        self.stop()

        async def run() -> None:
            index = 0
            while True:
                self.send(frames[index % len(frames)])
                index += 1
                await asyncio.sleep(period)

        self._task = asyncio.get_running_loop().create_task(run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def drop_clients(self) -> None:
        """Close every connection (the bridge rebooted)."""
        for writer in list(self._clients):
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._clients.clear()

    async def close(self) -> None:
        self.stop()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.drop_clients()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
