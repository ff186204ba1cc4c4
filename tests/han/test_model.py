"""Value types: OBIS codes, readings, frame errors, reasons, and the decoder options."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime

import pytest

from custom_components.han_port.han import (
    DecoderOptions,
    FrameError,
    Measurement,
    Obis,
    Reason,
    Transport,
    Unit,
    model,
)
from custom_components.han_port.han.model import Reading


@pytest.mark.parametrize(
    ("text", "obis"),
    [
        ("1-0:1.8.0", Obis(1, 0, 1, 8, 0, 255)),
        ("1-1:31.7.0", Obis(1, 1, 31, 7, 0)),
        ("0-0:96.1.0.255", Obis(0, 0, 96, 1, 0, 255)),
        ("1-0:1.8.0*2", Obis(1, 0, 1, 8, 0, 2)),
        ("1-0:1.8.0&3", Obis(1, 0, 1, 8, 0, 3)),
        (" 1-0:2.8.0 ", Obis(1, 0, 2, 8, 0)),
        ("255-255:255.255.255.254", Obis(255, 255, 255, 255, 255, 254)),
    ],
)
def test_parse(text: str, obis: Obis) -> None:
    assert Obis.parse(text) == obis


@pytest.mark.parametrize(
    "text",
    ["", "1-0:1.8", "1-0:4:24.7.0", "a-0:1.8.0", "256-0:1.8.0", "1-0:1.8.0.256", "1-0:1.8.0.1.2"],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not an OBIS code"):
        Obis.parse(text)


def test_text_form_and_key() -> None:
    assert str(Obis(1, 0, 1, 8, 0)) == "1-0:1.8.0"
    assert str(Obis(1, 0, 1, 8, 0, 3)) == "1-0:1.8.0.3"  # F only when used
    assert Obis(1, 1, 31, 7, 0).key == "1_1_31_7_0"
    assert Obis(0, 0, 96, 1, 0, 1).key == "0_0_96_1_0_1"


def test_bytes_round_trip_and_cache() -> None:
    raw = bytes((1, 0, 1, 7, 0, 255))
    obis = Obis.from_bytes(raw)
    assert obis == Obis(1, 0, 1, 7, 0)
    assert obis.to_bytes() == raw
    # The same logical name gives the same object: frames repeat them forever.
    assert Obis.from_bytes(bytes(raw)) is obis


@pytest.mark.parametrize("raw", [b"", b"\x01\x00\x01\x07\x00", b"\x01" * 7])
def test_from_bytes_rejects_wrong_length(raw: bytes) -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        Obis.from_bytes(raw)


def test_obis_is_a_tuple_key() -> None:
    values = {Obis(1, 0, 1, 8, 0): Measurement(1.5, "kWh")}
    assert values[Obis.parse("1-0:1.8.0")] == Measurement(1.5, "kWh")


def test_reading_timestamp_kind() -> None:
    naive = Reading(values={}, timestamp=datetime(2024, 1, 1, 12))
    aware = Reading(values={}, timestamp=datetime(2024, 1, 1, 12, tzinfo=UTC))
    none = Reading(values={})
    assert naive.timestamp_is_local
    assert not aware.timestamp_is_local
    assert not none.timestamp_is_local


def test_values_are_frozen() -> None:
    reading = Reading(values={})
    with pytest.raises(FrozenInstanceError):
        reading.meter_id = "x"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        Measurement(1).value = 2  # type: ignore[misc]


def test_system_title_not_in_repr() -> None:
    # A system title names the meter; it stays out of logs that print a reading.
    reading = Reading(values={}, system_title=b"KFM\x10\x10\x00\x00\x23")
    assert "KFM" not in repr(reading)
    assert "raw" not in repr(FrameError("crc", "FCS mismatch", b"\x7e" * 10))


def test_reasons_are_the_stable_strings() -> None:
    assert set(Reason) == {
        "crc",
        "truncated",
        "length",
        "format",
        "unsupported",
        "malformed",
        "no_key",
        "decrypt",
    }


# -- DecoderOptions ----------------------------------------------------------------------


def test_options_defaults() -> None:
    options = DecoderOptions()
    assert options.transport == "auto"
    assert options.key is None
    assert options.auth_key is None
    assert options.country is None


@pytest.mark.parametrize("transport", ["auto", "hdlc", "mbus", "p1"])
def test_options_accept_known_transports(transport: str) -> None:
    # A config entry stores the word; the decoder gets the member (compared by identity).
    assert DecoderOptions(transport=transport).transport is Transport(transport)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["serial", "apdu"])
def test_options_reject_unknown_transport(transport: str) -> None:
    # "apdu" labels readings of feed_apdu; there is no such framing to hunt for.
    with pytest.raises(ValueError, match="transport must be one of auto, hdlc, mbus, p1"):
        DecoderOptions(transport=transport)  # type: ignore[arg-type]


def test_units_are_the_stable_strings() -> None:
    # Sensor descriptions compare these; the words must not change under them.
    assert [str(unit) for unit in Unit] == [
        "W", "var", "VA", "kWh", "kvarh", "kVAh", "A", "V", "Hz", "%", "m3", "GJ"
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["key", "auth_key"])
@pytest.mark.parametrize("size", [0, 15, 17, 32])
def test_options_reject_keys_of_the_wrong_length(name: str, size: int) -> None:
    with pytest.raises(ValueError, match=f"{name} must be 16 bytes"):
        DecoderOptions(**{name: bytes(size)})


def test_options_accept_16_byte_keys() -> None:
    options = DecoderOptions(key=bytes(16), auth_key=bytes(range(16)))
    assert options.key == bytes(16)
    assert options.auth_key == bytes(range(16))


def test_obis_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    full = {
        bytes((9, 9, 9, 9, index // 256, index % 256)): Obis(0, 0, 0, 0, 0) for index in range(4096)
    }
    monkeypatch.setattr(model, "_OBIS_BY_BYTES", full)
    raw = bytes((1, 0, 99, 7, 0, 255))
    first = Obis.from_bytes(raw)
    assert first == Obis(1, 0, 99, 7, 0)
    assert len(full) == 4096  # full: decoded, not stored
    assert Obis.from_bytes(raw) is not first
