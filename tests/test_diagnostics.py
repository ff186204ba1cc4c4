"""Diagnostics: counters, last readings and raw frames, with no key and no meter id."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from itertools import pairwise
import json

from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
from hypothesis import given, strategies as st
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.han_port.const import CONF_KEY, CONF_SUB_METERS
from custom_components.han_port.diagnostics import id_forms, is_id_code, p1_ids, redacted_hex
from custom_components.han_port.han import Measurement, Obis, Reading
from custom_components.han_port.hub import LAST_CHUNKS, RecentBytes
from devtools.corpus import capture, expected

from .conftest import (
    BAD_CRC,
    ENCRYPTED,
    ENCRYPTED_KEY,
    KAMSTRUP_LIST1,
    KAMSTRUP_LIST2,
    P1_NL,
    make_entry,
    set_up,
    until,
)
from .more_meters import BY_ID as MORE_METERS, raw_bytes
from .p1_telegrams import DSMR5_METER_ID, GAS_ID, WATER_ID, dsmr5_gas_and_water
from .pty_meter import PtyMeter

pytestmark = pytest.mark.usefixtures("integration")

KEY = "0123456789ABCDEF0123456789ABCDEF"


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    meter: PtyMeter,
    snapshot: SnapshotAssertion,
) -> None:
    """A snapshot of everything a bug report needs; secrets nowhere in it."""
    entry = await set_up(
        hass, make_entry(meter.path, entry_id="01KDIAGNOSTICS000000000000", **{CONF_KEY: KEY})
    )
    stats = entry.runtime_data.hub.decoder.stats
    for corpus_id in (KAMSTRUP_LIST1, BAD_CRC, KAMSTRUP_LIST2):
        events = stats.readings + sum(stats.errors.values())
        meter.send(capture(corpus_id))
        await until(lambda events=events: stats.readings + sum(stats.errors.values()) > events)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics == snapshot

    text = json.dumps(diagnostics)
    meter_id = expected(KAMSTRUP_LIST1)["meter_id"]
    assert meter_id not in text
    assert meter_id.encode().hex().upper() not in text
    assert KEY not in text
    assert meter.path not in text
    assert diagnostics["counters"]["readings"] == 2
    assert diagnostics["counters"]["errors"] == {"crc": 1}


async def test_sub_meter_ids_in_the_entry_are_redacted(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, meter: PtyMeter
) -> None:
    entry = await set_up(hass, make_entry(meter.path, unique_id=DSMR5_METER_ID))
    hub = entry.runtime_data.hub
    meter.send(dsmr5_gas_and_water())
    await until(lambda: hub.decoder.stats.readings == 1)
    assert entry.data[CONF_SUB_METERS] == {"1": GAS_ID, "2": WATER_ID}

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["entry"]["data"][CONF_SUB_METERS] == REDACTED
    text = json.dumps(diagnostics)
    for equipment_id in (GAS_ID, WATER_ID):
        assert equipment_id not in text
        assert bytes.fromhex(equipment_id).decode() not in text  # the printed serial


@pytest.mark.parametrize(
    ("raw", "secrets", "text"),
    [
        (b"\x01ID\x02", [b"ID"], "01[**REDACTED**]02"),
        (b"IDxID", [b"ID"], "[**REDACTED**]78[**REDACTED**]"),
        (b"\x00LONGID\x00", [b"LONGID", b"ID"], "00[**REDACTED**]00"),
        (b"\xab", [], "AB"),
        # The head of an id at the end (a frame still arriving), its tail at the start.
        (b"\x0a\x10" + b"2200", [b"2200567223197714"], "0A10[**REDACTED**]"),
        (b"7714\x09\x06", [b"2200567223197714"], "[**REDACTED**]0906"),
        # Three bytes at an edge are kept: shorter pieces match ordinary bytes.
        (b"\x0a\x10" + b"220", [b"2200567223197714"], "0A10323230"),
        # A P1 equipment-id line, whether or not the id is known, also cut short.
        (b"0-1:96.1.0(4142)\r\n", [], b"0-1:96.1.0(".hex().upper() + "[**REDACTED**]290D0A"),
        (b"0-0:96.1.1(41", [], b"0-0:96.1.1(".hex().upper() + "[**REDACTED**]"),
        (b"0-2:96.1.0()\r\n", [], b"0-2:96.1.0()\r\n".hex().upper()),
        (b"1-0:96.1.4(50)", [], b"1-0:96.1.4(50)".hex().upper()),
        # EasyMeter's serial and property number, a Smarty's logical device name.
        (
            b"0-0:96.1.255*255(1ESY1313002565)",
            [],
            b"0-0:96.1.255*255(".hex().upper() + "[**REDACTED**]29",
        ),
        (b"1-0:0.0.0*255(0272031312565)", [], b"1-0:0.0.0*255(".hex().upper() + "[**REDACTED**]29"),
        (b"0-0:42.0.0(5341473130)", [], b"0-0:42.0.0(".hex().upper() + "[**REDACTED**]29"),
        (b"1-0:1.8.0(000273.764*kWh)", [], b"1-0:1.8.0(000273.764*kWh)".hex().upper()),
    ],
)
def test_redacted_hex(raw: bytes, secrets: list[bytes], text: str) -> None:
    """Secrets are cut out on byte boundaries, at the edges and in P1 id lines."""
    assert redacted_hex(raw, secrets) == text


def test_a_window_cut_inside_a_p1_line_loses_that_line() -> None:
    """Older bytes were dropped mid-line: the rest of that line may be an id's tail."""
    raw = b"3536373839)\r\n0-1:24.2.1(170102161005W)(00000.107*m3)\r\n"
    rest = b"0-1:24.2.1(170102161005W)(00000.107*m3)\r\n".hex().upper()
    assert redacted_hex(raw, [], cut=True) == "[**REDACTED**]" + rest
    assert redacted_hex(raw, []) == raw.hex().upper()
    # Binary data at a cut start is left alone unless it holds an id.
    assert redacted_hex(b"\x7e\xa0\x0a", [], cut=True) == "7EA00A"


def test_every_form_of_an_id() -> None:
    """As sent, as hex-encoded ASCII (NL/BE P1) both ways, a system title's serial."""
    sent = b"4B384547303034303436333935353037"
    assert {
        sent,
        sent.lower(),
        b"K8EG004046395507",
        sent.hex().encode(),
        sent.hex().upper().encode(),
    } <= id_forms(sent)
    assert {sent, sent.lower(), b"K8EG004046395507"} <= id_forms(b"K8EG004046395507")
    title = bytes.fromhex("4B464D1010000023")
    assert {
        title,
        b"4B464D1010000023",
        b"4b464d1010000023",
        b"KFM1010000023",
        b"1010000023",
        str(0x1010000023).encode(),
        title[3:],
    } <= id_forms(title)
    # A serial of zeros gives no short number that would match everywhere.
    assert all(len(form) >= 4 for form in id_forms(b"KFM\x00\x00\x00\x00\x01"))
    assert id_forms(b"12") == set()
    assert p1_ids(b"0-0:96.1.1(AB12)\r\n0-3:96.1.0(C)\r\n0-4:96.1.1()") == {b"AB12", b"C"}


@pytest.mark.parametrize(
    ("code", "identifier"),
    [
        ("0-0:96.1.1", True),
        ("0-0:96.1.0", True),
        ("0-1:96.1.0", True),
        ("0-4:96.1.1", True),
        ("0-0:96.1.4", False),
        ("0-0:96.1.255", True),
        ("0-0:42.0.0", True),
        ("1-0:42.0.0", False),
        ("1-0:1.8.0", False),
        ("0-1:24.2.1", False),
    ],
)
def test_id_codes(code: str, identifier: bool) -> None:
    """Equipment ids of the electricity meter and of the M-Bus sub-meters."""
    assert is_id_code(Obis.parse(code)) is identifier


@given(
    stream=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=60),
)
def test_recent_bytes_is_the_stream_tail_whatever_the_reads(stream: bytes, cuts: list[int]) -> None:
    """The window is the last `size` bytes, contiguous, however the reads fell."""
    recent = RecentBytes(1000)
    bounds = [0, *sorted(cut for cut in cuts if cut < len(stream)), len(stream)]
    sizes = []
    for start, end in pairwise(bounds):
        recent.append(stream[start:end])
        sizes.append(end - start)
    assert recent.window() == stream[-1000:]
    assert recent.cut is (len(stream) > 1000)
    assert list(recent.chunk_sizes) == sizes[-LAST_CHUNKS:]


@pytest.mark.parametrize("read", [1, 7, 20, 255, 256, 4000, 65536])
def test_recent_bytes_holds_little_more_than_its_window(read: int) -> None:
    """Memory stays near the window's size: one-byte reads are gathered, big reads cut."""
    recent = RecentBytes(4096)
    data = bytes(range(256)) * 1024
    for start in range(0, len(data), read):
        recent.append(data[start : start + read])
    assert recent.window() == data[-4096:]
    pieces = list(recent._pieces)
    assert sum(map(len, pieces)) < 4096 + max(read, RecentBytes.PIECE) + RecentBytes.PIECE
    assert len(pieces) <= 4096 // RecentBytes.PIECE + 2


async def test_diagnostics_of_an_encrypted_meter(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, meter: PtyMeter
) -> None:
    """The system title (it carries the serial number) is cut out of raw frames too."""
    meter_id = expected(ENCRYPTED)["meter_id"]
    entry = await set_up(
        hass, make_entry(meter.path, unique_id=meter_id, **{CONF_KEY: ENCRYPTED_KEY})
    )
    hub = entry.runtime_data.hub
    meter.send(capture(ENCRYPTED))
    await until(lambda: hub.decoder.stats.readings == 1)
    # A register holding a time, and one holding the meter id as text.
    hub.handle_events(
        [
            Reading(
                values={
                    Obis.parse("0-0:1.0.0"): Measurement(datetime(2026, 1, 1, 12, 0)),
                    Obis.parse("0-0:96.1.1"): Measurement(meter_id),
                },
                meter_id=None,
            )
        ],
        0.0,
    )

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    title = hub.last_readings[0].system_title
    assert title is not None
    assert title.hex().upper() not in text
    assert meter_id not in text
    assert ENCRYPTED_KEY not in text
    values = diagnostics["last_readings"][-1]["values"]
    assert values == {
        "0-0:1.0.0": ["2026-01-01T12:00:00", None],
        "0-0:96.1.1": ["**REDACTED**", None],
    }


async def test_diagnostics_count_readings_whose_tag_went_unchecked(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, meter: PtyMeter
) -> None:
    """An E450 authenticating its frames, set up with the encryption key alone."""
    capture_ = MORE_METERS["landisgyr-ch-e450-gbt3-encrypted-obis-list-scs"]
    entry = make_entry(meter.path, unique_id=None, **{CONF_KEY: capture_["key_hex"]})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    hub = entry.runtime_data.hub
    meter.send(raw_bytes(capture_))
    await until(lambda: hub.decoder.stats.readings == 1)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    counters = diagnostics["counters"]
    assert (counters["readings"], counters["unauthenticated_readings"]) == (1, 1)
    assert counters["errors"] == {}
    assert capture_["key_hex"] not in json.dumps(diagnostics)


async def test_p1_ids_in_decoded_values(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, meter: PtyMeter
) -> None:
    """Equipment ids kept as values (electricity and gas meter) and a text quoting one.

    The decoded Dutch telegram, with the id registers a P1 reading may carry: each is
    redacted whatever its value, a text that contains an id loses just the id.
    """
    meter_id = expected(P1_NL)["meter_id"]
    gas_id = "3232323241424344313233343536373839"
    entry = await set_up(hass, make_entry(meter.path, unique_id=meter_id))
    hub = entry.runtime_data.hub
    meter.send(capture(P1_NL))
    await until(lambda: hub.decoder.stats.readings == 1)
    telegram = hub.last_readings[0]
    hub.handle_events(
        [
            replace(
                telegram,
                values={
                    **telegram.values,
                    Obis.parse("0-0:96.1.1"): Measurement(meter_id),
                    Obis.parse("0-1:96.1.0"): Measurement(gas_id),
                    # A sub-meter id the meter sends in an unexpected form.
                    Obis.parse("0-2:96.1.1"): Measurement("W-1234"),
                    Obis.parse("0-0:96.13.0"): Measurement("Meter K8EG004046395507 replaced"),
                },
            )
        ],
        0.0,
    )

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    for secret in (meter_id, gas_id, "K8EG004046395507", "2222ABCD123456789", "W-1234"):
        assert secret not in text
        assert secret.lower() not in text
    values = diagnostics["last_readings"][-1]["values"]
    assert values["0-0:96.1.1"] == ["**REDACTED**", None]
    assert values["0-1:96.1.0"] == ["**REDACTED**", None]
    assert values["0-2:96.1.1"] == ["**REDACTED**", None]
    assert values["0-0:96.13.0"] == ["Meter [**REDACTED**] replaced", None]
    assert values["1-0:1.8.1"] == [4.426, "kWh"]
    assert values["0-1:24.2.1"] == [0.107, "m3"]
    # The raw telegram shows its structure; the id lines' values are cut.
    raw = diagnostics["last_bytes"]["hex"]
    assert b"0-0:96.1.1(".hex().upper() + "[**REDACTED**]29" in raw
    assert b"0-1:96.1.0(".hex().upper() + "[**REDACTED**]29" in raw
    assert b"1-0:1.8.1(000004.426*kWh)".hex().upper() in raw


async def test_logical_device_name_beside_a_meter_id_is_redacted(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, meter: PtyMeter
) -> None:
    """An E450 list with meter id 1935912 and logical device name LGZ1030655933512.

    The device name carries the serial number too: it is cut out of the raw bytes
    like the meter id, though the reading's meter id is the other one.
    """
    entry = await set_up(hass, make_entry(meter.path, unique_id="1935912"))
    hub = entry.runtime_data.hub
    meter.send(raw_bytes(MORE_METERS["landisgyr-ch-e450-gbt-incomplete-then-complete-scs"]))
    await until(lambda: hub.decoder.stats.readings == 1)
    assert hub.last_readings[0].meter_id == "1935912"

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    for secret in ("1935912", "LGZ1030655933512"):
        assert secret not in text
        assert secret.encode().hex().upper() not in text
    assert "[**REDACTED**]" in diagnostics["last_bytes"]["hex"]
