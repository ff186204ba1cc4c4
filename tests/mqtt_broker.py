"""A real Mosquitto broker on loopback for the MQTT tests, and a reader that publishes.

Debian's `mosquitto` package (scripts/setup installs it) runs with a temporary
configuration: one listener on 127.0.0.1 at a free port, anonymous clients, no
persistence. The broker is a separate process, so it is outside pytest-socket's
reach; the test process talks to it only through HA's mqtt integration (with
`socket_enabled`).
"""

from __future__ import annotations

from pathlib import Path
import random
import shutil
import subprocess
import time
from typing import Final, override

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant

from .peers import MeterPeer

MOSQUITTO: Final = "/usr/sbin/mosquitto"
# What mosquitto prints once its listeners are open.
_READY: Final = " running"
_START_TIMEOUT: Final = 10.0


def mosquitto_path() -> str | None:
    """The broker binary, or None when the package is not installed."""
    if Path(MOSQUITTO).is_file():
        return MOSQUITTO
    return shutil.which("mosquitto")


# Ports tried: pytest-socket forbids the test process to open a socket to find a
# free one, so the broker tries random ports until one binds.
_PORTS: Final = range(20000, 60000)
_ATTEMPTS: Final = 20


class MosquittoBroker:
    """Start with start(), stop with stop(); `port` is where it listens."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    def start(self) -> None:
        binary = mosquitto_path()
        if binary is None:
            raise RuntimeError("mosquitto is not installed: run scripts/setup (it installs it)")
        for _ in range(_ATTEMPTS):
            if self._start(binary, random.choice(_PORTS)):
                return
        raise RuntimeError("mosquitto did not start:\n" + "\n".join(self.log))

    def restart(self) -> None:
        """Start again on the same port (the broker was rebooted)."""
        binary = mosquitto_path()
        assert binary is not None
        deadline = time.monotonic() + _START_TIMEOUT
        # The old listener's port may take a moment to be free again.
        while not self._start(binary, self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not restart:\n" + "\n".join(self.log))
            time.sleep(0.1)

    def _start(self, binary: str, port: int) -> bool:
        """Start on `port`; False when it could not listen there."""
        self.port = port
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n",
            encoding="utf-8",
        )
        self._process = subprocess.Popen(
            [binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            # Its stderr is unbuffered: "running" arrives as soon as it is said.
            stderr=subprocess.PIPE,
            text=True,
        )
        stderr = self._process.stderr
        assert stderr is not None
        deadline = time.monotonic() + _START_TIMEOUT
        # Mosquitto says "running" after every listener is open; reading its log
        # needs no socket from the test process.
        while time.monotonic() < deadline:
            line = stderr.readline()
            if not line:
                break  # exited
            self.log.append(line.rstrip())
            if _READY in line:
                return True
        self.stop()
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=_START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            self.log.extend(line.rstrip() for line in process.stderr)
            process.stderr.close()


class MqttMeter(MeterPeer[bytes | str]):
    """A reader publishing to `topic`, through HA's own mqtt client (a separate client
    would add nothing the broker does not already do: it routes by topic).

    `start` publishes over and over: HA subscribes in batches a little after asking,
    and publishing until the test sees what it waits for makes that delay irrelevant.
    """

    def __init__(self, hass: HomeAssistant, topic: str) -> None:
        super().__init__()
        self.hass = hass
        self.topic = topic
        self.published = 0

    async def publish(self, payload: bytes | str, *, retain: bool = False) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        await mqtt.async_publish(self.hass, self.topic, data, retain=retain, encoding=None)
        self.published += 1

    @override
    async def deliver(self, message: bytes | str) -> None:
        await self.publish(message)

    @override
    async def _shut(self) -> None:
        """Clear what the test left retained on the topic."""
        await self.publish(b"", retain=True)
