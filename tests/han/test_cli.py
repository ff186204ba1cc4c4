"""The command line: decode every corpus capture, listen on a real socket and a real pty.

Sockets: pytest-homeassistant-custom-component blocks them in every test (its
pytest_runtest_setup runs after pytest-socket's, so the `enable_socket` marker does not
help); the `socket_enabled` fixture turns them back on for the tests that need them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from datetime import datetime, timedelta
import io
import json
import math
import os
from pathlib import Path
import random
import signal
import socket
import sys
import threading
import time
import tty
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.han_port.han import DecoderStats, Measurement, Obis, Reading, cli
from devtools.corpus import BY_ID, CORPUS, raw_bytes

from .. import more_meters
from ..command_line import REPO, exit_status, interrupt_after
from ..serial_proxy import Line, SerialProxy
from ..tcp_meter import TcpMeter

MODULE = "custom_components.han_port.han"
ENCRYPTED = BY_ID["kaifa-at-ma309-mbus-encrypted-tinetz-example"]
PUBLISHED_KEY = "101112131415161718191A1B1C1D1E1F"
WRONG_KEY = "000102030405060708090A0B0C0D0E0F"
# Norwegian HDLC captures that decode: the stream listen and the subprocess tests replay.
NO_HDLC = [
    entry
    for entry in CORPUS
    if entry["country"] == "NO" and entry["transport"] == "hdlc" and entry["valid"]
]
# What the corpus calls a rejection, in the decoder's Reason words.
REASON_OF = {"FCS mismatch": "crc", "HCS mismatch": "crc", "format type 1": "format"}


def options_for(entry: dict[str, Any]) -> list[str]:
    argv = ["--country", entry["country"]]
    if entry.get("key_hex"):
        argv += ["--key", entry["key_hex"]]
    if entry.get("auth_key_hex"):
        argv += ["--auth-key", entry["auth_key_hex"]]
    return argv


def run(argv: list[str]) -> int:
    return exit_status(cli.main, argv)


def outcome(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(JSON readings printed on stdout, stderr lines)."""
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err.splitlines()


def stdin_of(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


# ---------------------------------------------------------------------- decode


@pytest.mark.parametrize("entry", CORPUS, ids=lambda entry: entry["id"])
def test_decode_corpus_entry(
    entry: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "capture.bin"
    path.write_bytes(raw_bytes(entry))

    assert run(["decode", *options_for(entry), str(path)]) == 0

    readings, err = outcome(capsys)
    assert len(err) == 1, err  # exactly one summary line
    expected = entry["expected"]
    if not entry["valid"]:
        assert readings == []
        assert err[0].startswith("0 readings; rejected: ")
        reasons = {REASON_OF.get(reason, reason.split(":")[0]) for reason in expected["reasons"]}
        assert any(f"{reason} 1" in err[0] for reason in reasons), (reasons, err)
        return
    assert len(readings) == 1
    assert err[0].startswith("1 reading; rejected: none; 0 of ")
    (reading,) = readings
    assert set(reading) == {
        "meter_id",
        "meter_type",
        "manufacturer",
        "list_version",
        "timestamp",
        "values",
    }
    for field in ("meter_id", "meter_type", "list_version"):
        assert reading[field] == expected[field], field
    if expected["timestamp"] is None:
        assert reading["timestamp"] is None
    else:
        stamp = datetime.fromisoformat(reading["timestamp"])
        assert stamp.replace(tzinfo=None).isoformat() == expected["timestamp"]
        if expected.get("timestamp_deviation_min") is not None:
            # COSEM deviation is minutes *behind* UTC: -60 is UTC+01:00.
            offset = timedelta(minutes=-expected["timestamp_deviation_min"])
            assert stamp.utcoffset() == offset
    # The corpus lists what has a unit; a P1 sub-meter's equipment id comes on top.
    values = {code: v for code, v in reading["values"].items() if not isinstance(v["value"], str)}
    assert set(values) == set(expected["values"])
    for code, value in expected["values"].items():
        assert values[code]["value"] == pytest.approx(value, rel=1e-9, abs=1e-9), code
        assert values[code]["unit"] == expected["units"].get(code), code


def test_decode_hex_ignores_whitespace_anywhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = BY_ID["kamstrup-no-list1-3ph-2022-amshan"]
    digits = entry["hex"].lower()
    # Spaces, tabs, CR LF, and a line break inside a byte; chunks of 7 characters so
    # that a byte's two digits also fall into different chunks.
    text = "  " + " ".join(digits[i : i + 3] for i in range(0, len(digits), 3)) + "\r\n\t"
    stdin_of(monkeypatch, (text + "\n" + text).encode())
    monkeypatch.setattr(cli, "DECODE_CHUNK", 7)

    assert run(["decode", "--hex"]) == 0

    readings, err = outcome(capsys)
    assert [reading["meter_id"] for reading in readings] == [entry["expected"]["meter_id"]] * 2
    assert err == [f"2 readings; rejected: none; 0 of {len(digits)} bytes skipped"]


def test_decode_hex_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "frames.txt"
    path.write_text("\n".join(entry["hex"] for entry in NO_HDLC) + "\n")

    assert run(["decode", "--hex", "--transport", "hdlc", str(path)]) == 0

    readings, _ = outcome(capsys)
    assert [reading["meter_id"] for reading in readings] == [
        entry["expected"]["meter_id"] for entry in NO_HDLC
    ]


@pytest.mark.parametrize(
    ("key", "reading_count", "reason"),
    [(PUBLISHED_KEY, 1, None), (WRONG_KEY, 0, "decrypt"), (None, 0, "no_key")],
    ids=["published-key", "wrong-key", "no-key"],
)
def test_decode_encrypted_entry(
    key: str | None,
    reading_count: int,
    reason: str | None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "mbus.bin"
    path.write_bytes(raw_bytes(ENCRYPTED))

    assert run(["decode", *(["--key", key] if key else []), str(path)]) == 0

    readings, err = outcome(capsys)
    assert len(readings) == reading_count
    assert len(err) == 1
    if reason is None:
        assert readings[0]["meter_id"] == ENCRYPTED["expected"]["meter_id"]
        assert "rejected: none" in err[0]
    else:
        assert err[0].startswith(f"0 readings; rejected: {reason} 1;")


def test_decode_e450_with_the_encryption_key_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary says the reading's authentication tag went unchecked."""
    entry = more_meters.BY_ID["landisgyr-ch-e450-gbt3-encrypted-obis-list-scs"]
    path = tmp_path / "e450.txt"
    path.write_text(entry["hex"])

    assert run(["decode", "--hex", "--key", entry["key_hex"], str(path)]) == 0

    [reading], err = outcome(capsys)
    assert reading["timestamp"] == entry["expected"]["timestamp"]
    assert {obis: [value["value"], value["unit"]] for obis, value in reading["values"].items()} == (
        entry["expected"]["values"]
    )
    size = len(bytes.fromhex(entry["hex"]))
    assert err == [
        "1 reading (1 unauthenticated: no --auth-key to check the tag); rejected: none;"
        f" 0 of {size} bytes skipped"
    ]


def test_decode_empty_input_is_fine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin_of(monkeypatch, b"")
    assert run(["decode", "-"]) == 0
    assert outcome(capsys) == ([], ["0 readings; rejected: none; 0 of 0 bytes skipped"])


def test_decode_junk_counts_skipped_bytes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = raw_bytes(NO_HDLC[0])
    stdin_of(monkeypatch, b"\x00\x01noise" + frame)
    assert run(["decode"]) == 0
    readings, err = outcome(capsys)
    assert len(readings) == 1
    assert err == [f"1 reading; rejected: format 1; 7 of {7 + len(frame)} bytes skipped"]


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        ([], b"", "the following arguments are required: COMMAND"),
        (["frobnicate"], b"", "invalid choice"),
        (["decode", "--key", "1234"], b"", "need 32 hex digits"),
        (["decode", "--key", "zz" * 16], b"", "need 32 hex digits"),
        (["decode", "--auth-key", "0" * 31], b"", "need 32 hex digits"),
        (["decode", "--country", "NOR"], b"", "not a two-letter country code"),
        (["decode", "--transport", "usb"], b"", "invalid choice"),
        (["decode", "--hex"], b"7E A0 ZZ", "not hex: 'Z' after 4 hex digits"),
        (["decode", "--hex"], b"7EA", "odd number of hex digits (3)"),
        (["decode", "/nonexistent/capture.bin"], b"", "cannot read /nonexistent/capture.bin"),
        (["decode", "."], b"", "cannot read .: Is a directory"),
        (["listen"], b"", "the following arguments are required: URL"),
        (["listen", "/dev/ttyUSB0", "--parity", "X"], b"", "invalid choice"),
        (["listen", "/dev/ttyUSB0", "--seconds", "0"], b"", "'0' is not a positive number"),
        (["listen", "/dev/ttyUSB0", "--seconds", "soon"], b"", "not a positive number"),
        (["simulate", "aidon"], b"", "invalid choice: 'simulate'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str],
    stdin: bytes,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stdin_of(monkeypatch, stdin)
    assert run(argv) == 2
    readings, err = outcome(capsys)
    assert readings == []
    assert len(err) == 1, err
    assert message in err[0]


def test_bad_arguments_via_python_m_have_no_traceback() -> None:
    result = subprocess_run(["decode", "--key", "not-a-key"], b"")
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.count(b"\n") == 1
    assert b"Traceback" not in result.stderr


def test_decode_via_python_m_streams_stdin() -> None:
    stream = b"".join(raw_bytes(entry) for entry in NO_HDLC) * 3
    result = subprocess_run(["decode", "-"], stream)
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert [json.loads(line)["meter_id"] for line in lines] == [
        entry["expected"]["meter_id"] for entry in NO_HDLC
    ] * 3
    assert result.stderr.decode().splitlines() == [
        f"{len(lines)} readings; rejected: none; 0 of {len(stream)} bytes skipped"
    ]


def subprocess_run(argv: list[str], stdin: bytes) -> Any:
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", MODULE, *argv],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_decode_read_error_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(Broken())))
    assert run(["decode"]) == 2
    assert outcome(capsys)[1] == ["error: cannot read the input: Input/output error"]


def test_broken_stdout_pipe_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # decode ... | head: a real pipe whose reader has gone.
    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = open(write_end, "w", encoding="utf-8")  # noqa: SIM115
    monkeypatch.setattr(sys, "stdout", stdout)
    stdin_of(monkeypatch, raw_bytes(NO_HDLC[0]))
    try:
        assert run(["decode"]) == 0
        print("now /dev/null", file=stdout, flush=True)  # no second BrokenPipeError
    finally:
        stdout.close()


def test_reading_to_json_covers_every_value_kind() -> None:
    reading = Reading(
        values={
            Obis(1, 0, 1, 8, 0, 1): Measurement(12.5, "kWh"),  # F != 255 is kept
            Obis(0, 0, 1, 0, 0): Measurement(datetime(2024, 1, 2, 3, 4, 5)),
            Obis(1, 0, 14, 7, 0): Measurement(math.nan, "Hz"),
            Obis(0, 0, 96, 1, 0): Measurement("ABC"),
        },
        timestamp=datetime(2024, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("Europe/Oslo")),
    )
    assert cli.reading_to_json(reading) == {
        "meter_id": None,
        "meter_type": None,
        "manufacturer": None,
        "list_version": None,
        "timestamp": "2024-01-02T03:04:05+01:00",
        "values": {
            "1-0:1.8.0.1": {"value": 12.5, "unit": "kWh"},
            "0-0:1.0.0": {"value": "2024-01-02T03:04:05", "unit": None},
            "1-0:14.7.0": {"value": None, "unit": "Hz"},  # JSON has no NaN
            "0-0:96.1.0": {"value": "ABC", "unit": None},
        },
    }


def test_summary_lists_reasons_in_order() -> None:
    stats = DecoderStats(
        bytes_in=1000, bytes_skipped=40, readings=2, errors={"truncated": 1, "crc": 3}
    )
    assert (
        cli.summary(stats) == "2 readings; rejected: crc 3, truncated 1; 40 of 1000 bytes skipped"
    )


# ---------------------------------------------------------------------- listen


async def listen_while(
    meter: TcpMeter,
    argv: list[str],
    pieces: list[bytes],
    *,
    period: float = 0.001,
    hang_up: bool = False,
) -> int:
    """Run the CLI on `meter`, which plays `pieces` once from when the CLI connects, then
    waits for the CLI to go (or hangs up)."""
    listening = asyncio.create_task(asyncio.to_thread(cli.main, ["listen", meter.url, *argv]))
    await asyncio.wait_for(meter.accepted(), 30)
    await meter.play(pieces, period)
    if hang_up:
        await meter.drop_clients()
    return await listening


def split(data: bytes, rng: random.Random) -> list[bytes]:
    """Cut data at random places, as a serial port delivers it."""
    pieces = []
    while data:
        size = rng.randint(1, 40)
        pieces.append(data[:size])
        data = data[size:]
    return pieces


@pytest.fixture(autouse=True)
def ctrl_c_reaches_us() -> Iterator[None]:
    """Let SIGINT through, as in a terminal.

    A background job of a non-interactive shell (how CI may start us) inherits
    SIGINT ignored; the Ctrl-C tests would then wait forever. A Python handler here
    also means a child process starts with SIGINT at its default again.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def quick_hints(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(cli, "HINT_AFTER", 0.4)
    monkeypatch.setattr(cli, "POLL", 0.05)
    return 0.4


@pytest.mark.usefixtures("socket_enabled")
async def test_listen_socket_prints_readings_as_they_come(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = b"".join(raw_bytes(entry) for entry in NO_HDLC)
    pieces = split(stream, random.Random(7))
    async with TcpMeter() as meter:
        url = meter.url
        status = await listen_while(meter, ["--seconds", "1.5"], pieces)

    assert status == 0
    readings, err = outcome(capsys)
    assert [reading["meter_id"] for reading in readings] == [
        entry["expected"]["meter_id"] for entry in NO_HDLC
    ]
    assert err == [
        f"listening on {url}; Ctrl-C stops",
        f"{len(NO_HDLC)} readings; rejected: none; 0 of {len(stream)} bytes skipped",
    ]


@pytest.mark.usefixtures("socket_enabled")
async def test_listen_reports_a_closed_socket_and_rejected_frames(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = raw_bytes(BY_ID["neg-kamstrup-no-fcs-error-amsreader-gh175-1"])
    good = raw_bytes(NO_HDLC[0])
    async with TcpMeter() as meter:
        url = meter.url
        status = await listen_while(
            meter, ["--seconds", "10"], [bad, good], period=0.05, hang_up=True
        )

    assert status == 1
    readings, err = outcome(capsys)
    assert len(readings) == 1
    assert err[1:] == [
        "rejected (crc): FCS mismatch",
        f"error: {url} closed",
        f"1 reading; rejected: crc 1; {len(bad) - 1} of {len(bad) + len(good)} bytes skipped",
    ]


@pytest.mark.usefixtures("socket_enabled")
async def test_listen_hints_when_bytes_arrive_but_no_frame_is_valid(
    quick_hints: float, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a 2400 baud meter looks like read at the wrong parity: bytes, no frames.
    rng = random.Random(1)
    noise = [rng.randbytes(30).replace(b"\x7e", b"\x00") for _ in range(200)]
    async with TcpMeter() as meter:
        meter.start(noise, period=0.01)
        status = await asyncio.to_thread(cli.main, ["listen", meter.url, "--seconds", "1.2"])

    assert status == 0
    readings, err = outcome(capsys)
    assert readings == []
    assert err.count(cli.HINT_NOISE) == 1  # said once, not every poll
    assert not any("silent" in line or "no bytes" in line for line in err)


@pytest.mark.usefixtures("socket_enabled")
async def test_listen_hints_when_the_port_is_silent(
    quick_hints: float, capsys: pytest.CaptureFixture[str]
) -> None:
    async with TcpMeter() as meter:
        status = await asyncio.to_thread(cli.main, ["listen", meter.url, "--seconds", "1"])

    assert status == 0
    _, err = outcome(capsys)
    silent = [line for line in err if "no bytes from the port for" in line]
    assert len(silent) == 1
    assert "is the HAN port opened by the grid company" in silent[0]
    assert err[-1] == "0 readings; rejected: none; 0 of 0 bytes skipped"


@pytest.mark.usefixtures("socket_enabled")
async def test_listen_refused_connection_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"socket://127.0.0.1:{port}"
    assert await asyncio.to_thread(cli.main, ["listen", url]) == 1
    _, err = outcome(capsys)
    assert len(err) == 1
    assert err[0].startswith(f"error: cannot open {url}: ")


@pytest.mark.parametrize("url", ["/nonexistent/ttyUSB9", "nosuchscheme://meter"])
def test_listen_unopenable_port_exits_1(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["listen", url]) == 1
    readings, err = outcome(capsys)
    assert readings == []
    assert len(err) == 1
    assert err[0].startswith(f"error: cannot open {url}: ")


class Pty:
    """A pseudo-terminal: the CLI opens the slave by path, the test writes the master.

    The slave is put in raw mode first, so that the line discipline passes frame bytes
    (0x0D, 0x7F, ...) through untouched even before serialx sets the port up.
    """

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def feed(self, frames: list[bytes], every: float, *, hang_up_after: float = 0.0) -> None:
        """Write the frames over and over from a thread; close the master after a while."""

        def write() -> None:
            began = time.monotonic()
            while not self._stop.wait(every):
                if hang_up_after and time.monotonic() - began > hang_up_after:
                    self.close_master()
                    return
                with contextlib.suppress(OSError):  # before the CLI has opened the slave
                    os.write(self.master, b"".join(frames))

        self._thread = threading.Thread(target=write)
        self._thread.start()

    def close_slave(self) -> None:
        # Forget the number too: the CLI may get the same one when it opens the slave.
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def close_master(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.close_master()
        self.close_slave()


@pytest.fixture
def pty() -> Any:
    terminal = Pty()
    yield terminal
    terminal.stop()


def test_listen_pty(pty: Pty, capsys: pytest.CaptureFixture[str]) -> None:
    # The Austrian M-Bus meter: two long frames per message, encrypted.
    pty.feed([raw_bytes(ENCRYPTED)], every=0.1)

    status = run(["listen", pty.path, "--key", PUBLISHED_KEY, "--seconds", "1.2"])

    assert status == 0
    readings, err = outcome(capsys)
    assert len(readings) >= 5
    assert {reading["meter_id"] for reading in readings} == {ENCRYPTED["expected"]["meter_id"]}
    assert err[0] == f"listening on {pty.path} at 2400 8E1; Ctrl-C stops"
    assert err[-1].startswith(f"{len(readings)} readings; ")


async def test_listen_7e1_opens_the_port_with_7_data_bits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An old DSMR 2.2/3 P1 port (9600 7E1) is read with --bytesize 7, as asked."""
    telegram = raw_bytes(BY_ID["p1-nl-dsmr5-dsmrparser"])
    # DSMR 2.2/3 ends a telegram with "!" and no CRC.
    telegram = telegram[: telegram.index(b"\n!") + 2] + b"\r\n"
    async with SerialProxy(Line(9600, "E", 7)) as proxy:
        proxy.start([telegram], period=0.1)
        argv = ["listen", proxy.url, "--baudrate", "9600", "--parity", "E"]
        status = await asyncio.to_thread(cli.main, [*argv, "--bytesize", "7", "--seconds", "1"])
    assert status == 0
    assert proxy.opened == ["9600 7E1"]
    readings, err = outcome(capsys)
    assert readings
    assert {reading["meter_id"] for reading in readings} == {
        BY_ID["p1-nl-dsmr5-dsmrparser"]["expected"]["meter_id"]
    }
    assert err[0] == f"listening on {proxy.url}; Ctrl-C stops"


def test_listen_pty_hang_up_exits_1(pty: Pty, capsys: pytest.CaptureFixture[str]) -> None:
    pty.close_slave()  # only the CLI holds the slave: closing the master hangs it up
    pty.feed([raw_bytes(NO_HDLC[0])], every=0.1, hang_up_after=0.5)

    status = run(["listen", pty.path, "--baudrate", "115200", "--parity", "N"])

    assert status == 1
    readings, err = outcome(capsys)
    assert readings
    assert err[-2].startswith(f"error: lost {pty.path}: ")
    assert err[-1].startswith(f"{len(readings)} reading")


def test_listen_ctrl_c_exits_cleanly_with_summary(
    pty: Pty, capsys: pytest.CaptureFixture[str]
) -> None:
    pty.feed([raw_bytes(NO_HDLC[0])], every=0.1)
    timer = interrupt_after(0.8)
    try:
        status = run(["listen", pty.path])
    finally:
        timer.join()

    assert status == 0
    readings, err = outcome(capsys)
    assert readings
    # A frame may have been cut short by Ctrl-C: it is neither read nor skipped.
    assert err[-1].startswith(
        f"{len(readings)} reading{'s' * (len(readings) != 1)}; rejected: none; 0 of "
    )


@pytest.mark.usefixtures("socket_enabled")
async def test_listen_ctrl_c_via_python_m() -> None:
    """The real thing: a process that gets SIGINT prints the summary, no traceback."""
    frame = raw_bytes(NO_HDLC[0])
    async with TcpMeter() as meter:
        meter.start([frame], period=0.05)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            MODULE,
            "listen",
            meter.url,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        process.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 0
    assert json.loads(first)["meter_id"] == NO_HDLC[0]["expected"]["meter_id"]
    lines = err.decode().splitlines()
    assert "Traceback" not in err.decode()
    count = 1 + rest.count(b"\n")
    assert lines[-1].startswith(f"{count} reading{'s' * (count != 1)}; rejected: none; ")


def test_hint_clock_says_each_hint_once_per_episode() -> None:
    hints = cli.HintClock(opened=0.0, after=10.0)
    assert hints.update(5.0, got_bytes=False, got_reading=False) is None
    assert hints.update(10.0, got_bytes=False, got_reading=False) == cli.HINT_SILENT.format(
        seconds=10
    )
    assert hints.update(11.0, got_bytes=False, got_reading=False) is None  # said already
    # Noise starts: the silence hint is over; noise needs its own 10 s.
    assert hints.update(12.0, got_bytes=True, got_reading=False) is None
    assert hints.update(21.9, got_bytes=True, got_reading=False) is None
    assert hints.update(22.0, got_bytes=True, got_reading=False) == cli.HINT_NOISE
    assert hints.update(23.0, got_bytes=True, got_reading=False) is None
    # A reading ends the episode; noise for another 10 s brings the hint back.
    assert hints.update(24.0, got_bytes=True, got_reading=True) is None
    assert hints.update(25.0, got_bytes=True, got_reading=False) is None
    assert hints.update(35.0, got_bytes=True, got_reading=False) == cli.HINT_NOISE
    # Then the port falls silent.
    assert hints.update(45.0, got_bytes=False, got_reading=False) == cli.HINT_SILENT.format(
        seconds=10
    )
