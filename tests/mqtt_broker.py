"""A real Mosquitto broker on loopback for the MQTT tests.

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
from typing import Final

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
