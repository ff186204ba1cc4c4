"""The capture corpus (tests/fixtures/corpus.json), loaded in one place.

The tests, the fuzzer (fuzzing.py) and the benchmark (scripts/bench) read the real
captures through this module: each entry has an id, the capture as hex (binary
transports) or text (P1), its country, transport and vendor, whether it is valid, the
keys it needs, and what a correct decoder reads from it (`expected`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

type Entry = dict[str, Any]

FIXTURES: Final = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
CORPUS_PATH: Final = FIXTURES / "corpus.json"


def load(path: Path = CORPUS_PATH) -> list[Entry]:
    """The entries of a corpus file, in file order."""
    entries: list[Entry] = json.loads(path.read_text(encoding="utf-8"))
    return entries


CORPUS: Final = load()
BY_ID: Final = {entry["id"]: entry for entry in CORPUS}


def raw_bytes(entry: Entry) -> bytes:
    """The exact bytes the capture holds (hex for binary transports, text for P1)."""
    if entry.get("hex"):
        return bytes.fromhex(entry["hex"])
    text: str = entry["text"]
    return text.encode("ascii")


def capture(corpus_id: str) -> bytes:
    """The exact bytes of the capture with this id."""
    return raw_bytes(BY_ID[corpus_id])


def expected(corpus_id: str) -> dict[str, Any]:
    """What a correct decoder reads from the capture with this id."""
    result: dict[str, Any] = BY_ID[corpus_id]["expected"]
    return result
