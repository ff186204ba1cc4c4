"""A meter behind a network bridge (ser2net, an ESP): a real loopback TCP server.

The integration connects to `url` (socket://127.0.0.1:port) through serialx.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import override

from .peers import ByteMeter


class TcpMeter(ByteMeter):
    """Sends frames to every connected client; can drop the clients."""

    def __init__(self) -> None:
        super().__init__()
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._accepted = asyncio.Event()
        self.url = ""

    @override
    async def open(self) -> None:
        """Listen on a free loopback port; `url` is where."""

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._clients.add(writer)
            self._accepted.set()

        self._server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"socket://127.0.0.1:{port}"

    async def accepted(self) -> None:
        """Wait until a client is connected."""
        await self._accepted.wait()

    @property
    def clients(self) -> int:
        """How many connections are open."""
        return len(self._clients)

    @override
    def send(self, data: bytes) -> None:
        for writer in list(self._clients):
            if writer.is_closing():
                self._clients.discard(writer)
            else:
                writer.write(data)

    async def drop_clients(self) -> None:
        """Close every connection (the bridge rebooted)."""
        for writer in list(self._clients):
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._clients.clear()
        self._accepted.clear()

    @override
    async def _shut(self) -> None:
        await self.drop_clients()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
