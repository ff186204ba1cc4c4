"""The sans-IO rule: nothing in han/ but the command line imports I/O, the clock or HA.

The decoder runs in the event loop, in the CLI and in benchmarks alike only because
it never reads a port, a file or the time itself. Checked on the source with `ast`,
so that a violation fails here whether or not a test happens to execute it.

And what ships is what runs in Home Assistant: nothing under custom_components/
imports the development tools (devtools/: frame builder, simulated meter, fuzzer).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SHIPPED = Path(__file__).parents[2] / "custom_components" / "han_port"
HAN = SHIPPED / "han"
# The command line is where the I/O lives; __main__ only calls it.
IO_ALLOWED = {"cli.py", "__main__.py"}
PURE_MODULES = sorted(path for path in HAN.glob("*.py") if path.name not in IO_ALLOWED)

# Top-level packages whose import means I/O, concurrency, the clock or Home Assistant.
FORBIDDEN_IMPORTS = frozenset(
    {
        "asyncio",
        "homeassistant",
        "io",
        "os",
        "pathlib",
        "select",
        "selectors",
        "serial",
        "serial_asyncio",
        "serialx",
        "shutil",
        "socket",
        "subprocess",
        "sys",
        "threading",
        "time",
        "urllib",
    }
)
# Clock reads: datetime.now()/today()/utcnow(), date.today().
CLOCK_METHODS = frozenset({"now", "today", "utcnow"})
CLOCK_OWNERS = frozenset({"datetime", "date"})
# Builtins that do I/O.
IO_BUILTINS = frozenset({"open", "print", "input"})


def violations(source: str) -> list[str]:
    """Every import or call in `source` that breaks the sans-IO rule."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.split(".")[0] in FORBIDDEN_IMPORTS
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in FORBIDDEN_IMPORTS:
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            # The integration around han/ (port.py, the hub) does I/O and imports HA.
            found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import")
        elif isinstance(node, ast.Attribute) and node.attr in CLOCK_METHODS:
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name in CLOCK_OWNERS:
                found.append(f"line {node.lineno}: {name}.{node.attr}")
        elif isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "time":
            found.append(f"line {node.lineno}: time.{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in IO_BUILTINS
        ):
            found.append(f"line {node.lineno}: {node.func.id}()")
    return found


def test_the_package_has_pure_modules_and_a_cli() -> None:
    names = {path.name for path in PURE_MODULES}
    assert {"stream.py", "hdlc.py", "model.py", "__init__.py"} <= names
    assert (HAN / "cli.py").exists()


@pytest.mark.parametrize("path", PURE_MODULES, ids=lambda path: path.name)
def test_module_is_sans_io(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


def development_imports(source: str) -> list[str]:
    """Every import of the development tools in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [
            f"line {node.lineno}: {name}" for name in names if name.split(".")[0] == "devtools"
        ]
    return found


SHIPPED_MODULES = sorted(SHIPPED.rglob("*.py"))


def test_the_shipped_package_holds_no_development_tools() -> None:
    assert {"builder.py", "simulator.py", "fuzzing.py"}.isdisjoint(
        path.name for path in SHIPPED_MODULES
    )


@pytest.mark.parametrize("path", SHIPPED_MODULES, ids=lambda path: str(path.relative_to(SHIPPED)))
def test_shipped_module_does_not_import_development_tools(path: Path) -> None:
    assert development_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import devtools", "devtools"),
        ("from devtools.builder import build_frame", "devtools.builder"),
        ("import devtools.simulator as simulator", "devtools.simulator"),
    ],
)
def test_the_development_import_check_catches(source: str, expected: str) -> None:
    found = development_imports(source)
    assert len(found) == 1
    assert expected in found[0]


def test_the_development_import_check_lets_the_decoder_pass() -> None:
    assert development_imports("from .han import StreamDecoder\nimport struct") == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os", "import os"),
        ("import os.path as p", "import os.path"),
        ("import asyncio, struct", "import asyncio"),
        ("from homeassistant.core import HomeAssistant", "from homeassistant.core"),
        ("from serialx import AsyncSerial", "from serialx"),
        ("import socket", "import socket"),
        ("import threading", "import threading"),
        ("from time import monotonic", "from time"),
        ("import select", "import select"),
        ("from io import BytesIO", "from io"),
        ("from datetime import datetime\nx = datetime.now()", "datetime.now"),
        ("import datetime\nx = datetime.datetime.now(tz=None)", "datetime.now"),
        ("import datetime\nx = datetime.date.today()", "date.today"),
        ("x = time.monotonic()", "time.monotonic"),
        ("open('/dev/ttyUSB0', 'rb')", "open()"),
        ("print('debug')", "print()"),
        ("from ..port import open_stream", "from ..port import"),
        ("from .. import reader", "from .. import"),
    ],
)
def test_the_checker_catches(source: str, expected: str) -> None:
    found = violations(source)
    assert len(found) == 1
    assert expected in found[0]


@pytest.mark.parametrize(
    "source",
    [
        "from . import hdlc",
        "from .model import Reading",
        "import struct, binascii, math",
        "from datetime import datetime, timedelta, timezone",
        "x = datetime(2024, 1, 1) + timedelta(hours=1)",
        "from cryptography.hazmat.primitives.ciphers import Cipher",
        "now = reading.timestamp",  # a field called like a clock is not a clock
    ],
)
def test_the_checker_lets_pure_code_pass(source: str) -> None:
    assert violations(source) == []
