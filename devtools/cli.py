"""Command line of the development tools: serve a simulated meter.

    python -m devtools simulate kamstrup --tcp 5000
    python -m devtools simulate aidon --speed 60 | python -m custom_components.han_port.han decode -

scripts/develop, scripts/measure and the browser walkthrough (scripts/e2e) run it to
feed a real Home Assistant. Arguments and errors follow the shipped command line
(custom_components/han_port/han/cli.py), whose parser and messages it reuses.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
import contextlib
from datetime import datetime, timedelta
import os
from pathlib import Path
import sys
from typing import Final
from zoneinfo import ZoneInfo

from custom_components.han_port.han.cli import (
    EXIT_OK,
    EXIT_PORT,
    EXIT_USAGE,
    Parser,
    UsageError,
    positive_number,
    say,
)
from custom_components.han_port.port import READ_SIZE

from .simulator import PROFILES, SimulatedMeter

# simulate --tcp: a client that stops reading is dropped rather than buffered for.
MAX_BACKLOG: Final = 1 << 20


def _tcp_port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0-65535)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the development command line."""
    parser = Parser(prog="python -m devtools", description="HAN Port development tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    simulate = commands.add_parser(
        "simulate",
        help="serve a simulated meter's frames in real time",
        description="Serve a simulated meter's HDLC frames over TCP, or write them to stdout.",
    )
    simulate.add_argument(
        "vendor", choices=sorted(PROFILES), metavar="VENDOR", help=", ".join(sorted(PROFILES))
    )
    simulate.add_argument("--tcp", type=_tcp_port, metavar="PORT", help="serve on this port")
    simulate.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    simulate.add_argument(
        "--speed",
        type=positive_number,
        default=1.0,
        metavar="X",
        help="run X times faster than real time",
    )
    simulate.add_argument(
        "--seed", type=int, default=0, metavar="N", help="the meter's random seed"
    )
    simulate.add_argument(
        "--seconds", type=positive_number, metavar="N", help="stop after this many seconds"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return simulate(args)
    except UsageError as err:
        say(f"error: {err}")
        return EXIT_USAGE


def simulate(args: argparse.Namespace) -> int:
    """Serve a simulated meter's frames over TCP, or write them to stdout."""
    if args.tcp is None and sys.stdout.isatty():
        raise UsageError(
            "will not write binary frames to a terminal: pipe them into "
            "'decode -', or serve them with --tcp PORT"
        )
    meter = SimulatedMeter(args.vendor, local_now(), seed=args.seed)
    try:
        return asyncio.run(_simulate(args, meter))
    except KeyboardInterrupt:
        return EXIT_OK


def local_now() -> datetime:
    """Now, in the local time zone with its DST rules where the system names one.

    A fixed UTC offset (what `astimezone()` gives) would never set Kamstrup's DST bit.
    """
    now = datetime.now().astimezone()
    name = os.environ.get("TZ", "").removeprefix(":")
    with contextlib.suppress(OSError, ValueError, LookupError):
        if name:
            return now.astimezone(ZoneInfo(name))
        with Path("/etc/localtime").open("rb") as zone_file:
            return now.astimezone(ZoneInfo.from_file(zone_file))
    return now


async def _simulate(args: argparse.Namespace, meter: SimulatedMeter) -> int:
    if args.tcp is None:
        out = sys.stdout.buffer

        def write(frame: bytes) -> None:
            out.write(frame)
            out.flush()

        await _pace(meter, args.speed, args.seconds, write)
        return EXIT_OK

    clients: set[asyncio.StreamWriter] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.add(writer)
        try:
            # A meter does not listen: read only to notice that the client left
            # (a reset connection means that too).
            with contextlib.suppress(OSError):
                while await reader.read(READ_SIZE):
                    pass
        finally:
            clients.discard(writer)
            writer.close()

    def broadcast(frame: bytes) -> None:
        for writer in list(clients):
            if writer.transport.get_write_buffer_size() > MAX_BACKLOG:
                clients.discard(writer)
                writer.close()
            else:
                writer.write(frame)

    try:
        server = await asyncio.start_server(serve, args.host, args.tcp)
    except OSError as err:
        say(f"error: cannot serve on {args.host}:{args.tcp}: {err.strerror or err}")
        return EXIT_PORT
    host, port = server.sockets[0].getsockname()[:2]
    say(
        f"simulated {meter.vendor} meter {meter.meter_id} on tcp://{host}:{port} "
        f"(listen socket://{host}:{port}); Ctrl-C stops"
    )
    try:
        await _pace(meter, args.speed, args.seconds, broadcast)
    finally:
        server.close()
        server.close_clients()
        await server.wait_closed()
    return EXIT_OK


async def _pace(
    meter: SimulatedMeter,
    speed: float,
    seconds: float | None,
    send: Callable[[bytes], None],
) -> None:
    """Send each frame when the meter would, `speed` times faster, for `seconds`."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    duration = None if seconds is None else timedelta(seconds=seconds * speed)
    for when, frame in meter.frames(duration):
        due = began + (when - meter.start).total_seconds() / speed
        # Sleep even when late, so that clients get accepted at any speed.
        await asyncio.sleep(max(0.0, due - loop.time()))
        send(frame)
