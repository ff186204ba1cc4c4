"""The development command line: serve the simulated meter over TCP and to stdout.

Sockets: pytest-homeassistant-custom-component blocks them in every test; the
`socket_enabled` fixture turns them back on for the tests that need them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
import io
import socket
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from custom_components.han_port.han import Reading, StreamDecoder
from devtools import cli
from devtools.simulator import SimulatedMeter

from ..command_line import REPO, exit_status, interrupt_after


def run(argv: list[str]) -> int:
    return exit_status(cli.main, argv)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "acme"], "invalid choice"),
        (["simulate", "kaifa", "--speed", "-2"], "not a positive number"),
        (["simulate", "kaifa", "--tcp", "65536"], "not a TCP port"),
        (["listen", "/dev/ttyUSB0"], "invalid choice: 'listen'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert message in err


def test_python_m_devtools_runs_the_simulator() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools",
            "simulate",
            "kaifa",
            "--speed",
            "500",
            "--seconds",
            "0.2",
        ],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    decoder = StreamDecoder()
    events = decoder.feed(result.stdout) + decoder.flush()
    assert events
    assert all(isinstance(event, Reading) for event in events)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect once the simulator is up (it starts in another thread)."""
    for _ in range(200):
        try:
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")


async def decode_until_eof(reader: asyncio.StreamReader) -> StreamDecoder:
    decoder = StreamDecoder()
    readings: list[Reading] = []
    while chunk := await reader.read(65536):
        for event in decoder.feed(chunk):
            assert isinstance(event, Reading), event
            readings.append(event)
    assert decoder.flush() == []
    return decoder


@pytest.mark.usefixtures("socket_enabled")
async def test_simulate_tcp_serves_every_client(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    argv = ["simulate", "kaifa", "--tcp", str(port), "--speed", "40", "--seed", "3"]
    server = asyncio.create_task(asyncio.to_thread(cli.main, [*argv, "--seconds", "1.5"]))
    first, second = await connect(port), await connect(port)
    second[1].write(b"a meter ignores what clients send\r\n")
    decoders = await asyncio.gather(decode_until_eof(first[0]), decode_until_eof(second[0]))
    for _, writer in (first, second):
        writer.close()
        await writer.wait_closed()

    assert await server == 0
    # Kaifa pushes every 2 s; at 40x that is 20 frames/s of wall time.
    for decoder in decoders:
        assert decoder.stats.readings >= 15
        assert decoder.stats.errors == {}
        assert decoder.stats.bytes_skipped == 0
    meter_id = SimulatedMeter("kaifa", datetime(2024, 1, 1), seed=3).meter_id
    err = capsys.readouterr().err
    assert f"simulated kaifa meter {meter_id} on tcp://127.0.0.1:{port}" in err


@pytest.mark.usefixtures("socket_enabled")
async def test_simulate_drops_a_client_that_stops_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every client counts as stalled: the first frame drops it.
    monkeypatch.setattr(cli, "MAX_BACKLOG", -1)
    port = free_port()
    argv = ["simulate", "aidon", "--tcp", str(port), "--speed", "100", "--seconds", "1.5"]
    server = asyncio.create_task(asyncio.to_thread(cli.main, argv))
    reader, writer = await connect(port)
    # Dropped at the first frame: a client served to the end would get frames first.
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()
    assert await server == 0


@pytest.mark.usefixtures("socket_enabled")
async def test_simulate_port_in_use_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["simulate", "kamstrup", "--tcp", str(port)]
        assert await asyncio.to_thread(cli.main, argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: cannot serve on 127.0.0.1:{port}: ")


def binary_stdout(monkeypatch: pytest.MonkeyPatch) -> io.BytesIO:
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
    return raw


def test_simulate_writes_frames_to_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = binary_stdout(monkeypatch)
    assert run(["simulate", "aidon", "--speed", "500", "--seconds", "0.4"]) == 0

    decoder = StreamDecoder()
    events = decoder.feed(raw.getvalue()) + decoder.flush()
    # Aidon pushes every 2.5 s: 0.4 s at 500x is 200 s, 80 frames.
    assert 60 <= len(events) <= 81
    assert all(isinstance(event, Reading) for event in events)


def test_simulate_ctrl_c_exits_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = binary_stdout(monkeypatch)
    timer = interrupt_after(0.5)
    try:
        status = run(["simulate", "kamstrup", "--speed", "100"])
    finally:
        timer.join()
    assert status == 0
    assert raw.getvalue().startswith(b"\x7e\xa0")


def test_simulate_will_not_write_binary_to_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert run(["simulate", "kaifa"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "will not write binary frames to a terminal" in err[0]


@pytest.mark.parametrize("zone", ["Europe/Oslo", "America/Sao_Paulo"])
def test_local_now_follows_tz(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", f":{zone}")
    assert cli.local_now().tzinfo == ZoneInfo(zone)


def test_local_now_falls_back_to_a_fixed_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Not/AZone")
    before = datetime.now().astimezone()
    now = cli.local_now()
    after = datetime.now().astimezone()
    assert now.utcoffset() is not None
    assert before <= now <= after
