"""Command line for people debugging a HAN adapter: decode a capture, listen to a port.

    python -m custom_components.han_port.han decode [--hex] [--key HEX] capture.bin
    python -m custom_components.han_port.han listen /dev/ttyUSB0 --baudrate 2400 --parity E

(The simulated meter is a development tool: `python -m devtools simulate`.)

The only module in `han/` that does I/O (files, asyncio, the port, opened by ../port.py
exactly as the integration opens it); the decoder it drives stays sans-IO. Readings go
to stdout as JSON lines so that they pipe into jq; everything for the human (hints,
rejected frames, the summary) goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator, Sequence
import contextlib
from datetime import datetime
import json
import math
import os
from pathlib import Path
import sys
from typing import IO, Any, Final, NoReturn

from ..port import (
    READ_ERRORS,
    LineSettings,
    PortOpenError,
    describe,
    is_network_port,
    open_stream,
)
from .model import Event, Reading, Transport, Value
from .options import FRAMINGS, DecoderOptions
from .session import ListenSession, SessionTimes, Trouble
from .stream import DecoderStats, StreamDecoder

EXIT_OK: Final = 0
EXIT_PORT: Final = 1  # the port could not be opened, or was lost
EXIT_USAGE: Final = 2  # argparse's own code for bad arguments

# decode: the decoder takes any split; 4 KiB keeps the output flowing when a slow
# pipe (cat /dev/ttyUSB0 | ... decode -) delivers the bytes.
DECODE_CHUNK: Final = 4096
# listen: how long bytes may arrive without a valid frame (or nothing may arrive at
# all) before the user gets a hint. Kamstrup pushes every 10 s, and the first frame
# after opening is usually cut short, so anything under ~12 s would cry wolf.
HINT_AFTER: Final = 12.0
# How often listen looks at the clock while the port is quiet.
POLL: Final = 1.0

HINT_NOISE: Final = "hint: bytes arrive but no valid frame: check baud rate/parity, or the adapter"
HINT_SILENT: Final = (
    "hint: no bytes from the port for {seconds:.0f} s: is the HAN port opened by the grid "
    "company, and is the adapter connected to the meter?"
)

_WHITESPACE: Final = b" \t\r\n\v\f"
_HEX_DIGITS: Final = b"0123456789abcdefABCDEF"


class UsageError(Exception):
    """Bad input the user must fix (exit 2): bad hex, an unreadable file."""


class Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: the message is what the user must fix, and the
        # usage of the subcommands would bury it.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


# -- argument types -------------------------------------------------------------------


def _key(text: str) -> bytes:
    digits = "".join(text.split())
    if len(digits) != 32 or digits.encode().translate(None, _HEX_DIGITS):
        raise argparse.ArgumentTypeError(f"{text!r} is not a key: need 32 hex digits (16 bytes)")
    return bytes.fromhex(digits)


def _country(text: str) -> str:
    if len(text) != 2 or not text.isascii() or not text.isalpha():
        raise argparse.ArgumentTypeError(f"{text!r} is not a two-letter country code")
    return text.upper()


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of both subcommands."""
    parser = Parser(
        description="Decode and listen to smart meters' HAN/P1 ports.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def keys(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--key", type=_key, metavar="HEX", help="encryption key (GUEK), 32 hex digits"
        )
        sub.add_argument(
            "--auth-key", type=_key, metavar="HEX", help="authentication key (GAK), 32 hex digits"
        )
        sub.add_argument(
            "--country",
            type=_country,
            metavar="CC",
            help="the meter's country (SE: Kamstrup energy in Wh, not 0.01 kWh)",
        )

    decode = commands.add_parser(
        "decode",
        help="decode a capture: JSON readings on stdout, a summary on stderr",
        description="Decode raw bytes (or hex text) into one JSON reading per line.",
    )
    decode.add_argument(
        "--hex", action="store_true", help="the input is hex text (whitespace ignored)"
    )
    keys(decode)
    decode.add_argument(
        "--transport",
        choices=[transport.value for transport in FRAMINGS],
        default=Transport.AUTO.value,
        help="skip the hunt for HDLC, M-Bus and P1 frames (default: auto)",
    )
    decode.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="default: stdin")

    listen = commands.add_parser(
        "listen",
        help="read a serial port or socket://host:port live",
        description="Print readings from a port as they come, with hints when none decode.",
    )
    listen.add_argument("url", metavar="URL", help="/dev/ttyUSB0, socket://host:port, ...")
    listen.add_argument("--baudrate", type=int, default=2400, metavar="N", help="default: 2400")
    listen.add_argument("--parity", choices=("E", "N", "O"), default="E", help="default: E")
    listen.add_argument(
        "--bytesize",
        type=int,
        choices=(7, 8),
        default=8,
        help="data bits; 7 for old DSMR 2.2/3 P1 ports (9600 7E1); default: 8",
    )
    keys(listen)
    listen.add_argument(
        "--seconds", type=positive_number, metavar="N", help="stop after this many seconds"
    )

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "decode":
            return decode(args)
        return listen(args)
    except UsageError as err:
        say(f"error: {err}")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (| head): not an error. Point stdout at /dev/null so
        # that the interpreter's final flush does not complain about it either.
        with contextlib.suppress(OSError, ValueError):
            stdout = sys.stdout.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, stdout)
            os.close(null)
        return EXIT_OK


# -- output ---------------------------------------------------------------------------


def reading_to_json(reading: Reading) -> dict[str, Any]:
    """What one reading says, as the JSON object the command line prints."""
    timestamp = reading.timestamp
    return {
        "meter_id": reading.meter_id,
        "meter_type": reading.meter_type,
        "manufacturer": reading.manufacturer,
        "list_version": reading.list_version,
        "timestamp": None if timestamp is None else timestamp.isoformat(),
        "values": {
            str(obis): {"value": _json_value(measurement.value), "unit": measurement.unit}
            for obis, measurement in reading.values.items()
        },
    }


def _json_value(value: Value) -> int | float | str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN: a float register can hold one
    return value


def summary(stats: DecoderStats) -> str:
    """The one stderr line that says what became of the input."""
    readings = f"{stats.readings} reading{'' if stats.readings == 1 else 's'}"
    if stats.unauthenticated:
        # Read with the encryption key alone: say that the tag went unchecked.
        readings += f" ({stats.unauthenticated} unauthenticated: no --auth-key to check the tag)"
    rejected = ", ".join(f"{reason} {count}" for reason, count in sorted(stats.errors.items()))
    return (
        f"{readings}; rejected: {rejected or 'none'}; "
        f"{stats.bytes_skipped} of {stats.bytes_in} bytes skipped"
    )


def say(text: str) -> None:
    """A line for the human, on stderr (stdout carries the readings)."""
    print(text, file=sys.stderr, flush=True)


def _print_readings(events: list[Event], *, errors: bool = False) -> int:
    """Print the readings (and, when asked, the rejections); return how many readings."""
    count = 0
    for event in events:
        if isinstance(event, Reading):
            print(json.dumps(reading_to_json(event), ensure_ascii=False), flush=True)
            count += 1
        elif errors:
            say(f"rejected ({event.reason}): {event.detail}")
    return count


def _options(args: argparse.Namespace) -> DecoderOptions:
    return DecoderOptions(
        transport=getattr(args, "transport", Transport.AUTO),
        key=args.key,
        auth_key=args.auth_key,
        country=args.country,
    )


# -- decode ---------------------------------------------------------------------------


def decode(args: argparse.Namespace) -> int:
    """Decode a file or stdin; one JSON reading per line; exit 0 once it is read."""
    decoder = StreamDecoder(_options(args))
    with _open_input(args.file) as stream:
        chunks = _raw_chunks(stream)
        for chunk in _hex_chunks(chunks) if args.hex else chunks:
            _print_readings(decoder.feed(chunk))
    _print_readings(decoder.flush())
    say(summary(decoder.stats))
    return EXIT_OK


def _open_input(name: str) -> contextlib.AbstractContextManager[IO[bytes]]:
    if name == "-":
        return contextlib.nullcontext(sys.stdin.buffer)  # not ours to close
    try:
        # The caller's `with` closes it; opening here keeps errors raised while
        # decoding (a broken stdout) from being reported as "cannot read".
        return Path(name).open("rb")
    except OSError as err:
        raise UsageError(f"cannot read {name}: {err.strerror or err}") from None


def _raw_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    # read1: hand over what a pipe has now rather than wait for a full chunk.
    read = getattr(stream, "read1", stream.read)
    while True:
        try:
            chunk: bytes = read(DECODE_CHUNK)
        except OSError as err:
            raise UsageError(f"cannot read the input: {err.strerror or err}") from None
        if not chunk:
            return
        yield chunk


def _hex_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Turn hex text into bytes as it streams, ignoring whitespace anywhere."""
    odd = b""  # a digit whose partner is in the next chunk
    seen = 0  # hex digits so far, for the error message
    for chunk in chunks:
        digits = chunk.translate(None, _WHITESPACE)
        if stray := digits.translate(None, _HEX_DIGITS):
            where = seen + digits.index(stray[:1])
            raise UsageError(
                f"--hex: the input is not hex: {chr(stray[0])!r} after {where} hex digits"
            )
        seen += len(digits)
        digits = odd + digits
        cut = len(digits) & ~1
        odd = digits[cut:]
        if cut:
            yield bytes.fromhex(digits[:cut].decode("ascii"))
    if odd:
        raise UsageError(f"--hex: odd number of hex digits ({seen})")


# -- listen ---------------------------------------------------------------------------


def listen(args: argparse.Namespace) -> int:
    """Read a port live until --seconds pass, the port goes, or Ctrl-C."""
    decoder = StreamDecoder(_options(args))
    try:
        return asyncio.run(_listen(args, decoder))
    except KeyboardInterrupt:
        # Ctrl-C is how a listen session normally ends; _listen has printed the summary.
        return EXIT_OK


class HintClock:
    """When to tell the user that the port is silent or sends only noise.

    The listening session's troubles (the same decisions Home Assistant's repair
    issues come from), each said once per episode: again only after the situation
    changed (a reading arrived, or bytes started to flow again).
    """

    HINTS: Final = {Trouble.NO_BYTES: HINT_SILENT, Trouble.NO_VALID_FRAMES: HINT_NOISE}

    def __init__(self, opened: float, after: float = HINT_AFTER) -> None:
        self.after = after
        self.session = ListenSession(
            SessionTimes(no_valid_frames_after=after, no_bytes_after=after), opened=opened
        )

    def update(self, now: float, *, got_bytes: bool, got_reading: bool) -> str | None:
        """Record what just happened; return a hint to print, if one is due."""
        if got_reading:
            verdict = self.session.reading(now)
        elif got_bytes:
            verdict = self.session.no_reading(now)
        else:
            verdict = self.session.idle(now)
        for trouble in verdict.begun:
            if (hint := self.HINTS.get(trouble)) is not None:
                return hint.format(seconds=self.after)
        return None


async def _listen(args: argparse.Namespace, decoder: StreamDecoder) -> int:
    url: str = args.url
    settings = LineSettings(args.baudrate, args.parity, args.bytesize)
    try:
        stream = await open_stream(url, settings)
    except PortOpenError as err:
        say(f"error: cannot open {url}: {err}")
        return EXIT_PORT
    # Over a network bridge the line settings are the bridge's business.
    line = "" if is_network_port(url) else f" at {settings}"
    say(f"listening on {url}{line}; Ctrl-C stops")
    loop = asyncio.get_running_loop()
    hints = HintClock(loop.time(), after=HINT_AFTER)
    end = None if args.seconds is None else loop.time() + args.seconds
    status = EXIT_OK
    try:
        while True:
            wait = POLL if end is None else min(POLL, end - loop.time())
            if wait <= 0:
                break
            chunk = b""
            try:
                async with asyncio.timeout(wait):
                    chunk = await stream.read()
                if not chunk:
                    say(f"error: {url} closed")
                    status = EXIT_PORT
                    break
            except TimeoutError:
                pass
            except READ_ERRORS as err:
                say(f"error: lost {url}: {describe(err)}")
                status = EXIT_PORT
                break
            readings = _print_readings(decoder.feed(chunk), errors=True) if chunk else 0
            hint = hints.update(loop.time(), got_bytes=bool(chunk), got_reading=readings > 0)
            if hint:
                say(hint)
    finally:
        # Also on Ctrl-C (the task is cancelled): close the port, then say what we saw.
        await stream.close()
        say(summary(decoder.stats))
    return status
