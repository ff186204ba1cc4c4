"""Simulated meter: deterministic, on the vendors' cadence, energy that integrates power."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
import itertools
import math
from zoneinfo import ZoneInfo

import pytest

from custom_components.han_port.han import DecoderOptions, Reading, StreamDecoder
from custom_components.han_port.han.crc import crc16_x25
from custom_components.han_port.han.model import Obis
from devtools.simulator import PROFILES, SimulatedFrame, SimulatedMeter

VENDORS = ("kamstrup", "aidon", "kaifa")
WINTER = datetime(2024, 1, 15, 6, 58, 0)


def _run(meter: SimulatedMeter, duration: timedelta) -> list[SimulatedFrame]:
    return list(meter.simulate(duration))


def _value(frame: SimulatedFrame, c: int, d: int, e: int = 0) -> float:
    for obis, value in frame.message.values.items():
        if (obis.c, obis.d, obis.e) == (c, d, e):
            return value
    raise KeyError(f"{c}.{d}.{e}")


def _seconds_of_hour(when: datetime) -> float:
    return when.minute * 60 + when.second + when.microsecond / 1e6


def _check_hdlc(frame: bytes) -> None:
    assert frame[0] == frame[-1] == 0x7E
    assert int.from_bytes(frame[1:3], "big") == 0xA000 | (len(frame) - 2)
    assert crc16_x25(frame[1:-3]) == int.from_bytes(frame[-3:-1], "little")
    header_end = frame.index(b"\xe6\xe7\x00") - 2
    assert crc16_x25(frame[1:header_end]) == int.from_bytes(
        frame[header_end : header_end + 2], "little"
    )


@pytest.mark.parametrize("vendor", VENDORS)
def test_same_seed_same_frames(vendor: str) -> None:
    first = list(SimulatedMeter(vendor, WINTER, seed=7).frames(timedelta(minutes=5)))
    again = list(SimulatedMeter(vendor, WINTER, seed=7).frames(timedelta(minutes=5)))
    other = list(SimulatedMeter(vendor, WINTER, seed=8).frames(timedelta(minutes=5)))
    assert first == again
    assert [t for t, _ in first] == [t for t, _ in other]
    assert [f for _, f in first] != [f for _, f in other]
    meter = SimulatedMeter(vendor, WINTER, seed=7)
    assert list(meter.frames(timedelta(minutes=1))) == list(meter.frames(timedelta(minutes=1)))


@pytest.mark.parametrize(
    ("vendor", "fast", "lists", "hourly_at"),
    [
        ("kamstrup", 10.0, {"list1": 10.0}, 5.0),
        ("aidon", 2.5, {"list1": 2.5, "list2": 10.0}, 10.0),
        ("kaifa", 2.0, {"list1": 2.0, "list2": 10.0}, 10.0),
    ],
)
def test_cadence(vendor: str, fast: float, lists: dict[str, float], hourly_at: float) -> None:
    frames = _run(SimulatedMeter(vendor, WINTER, seed=1), timedelta(hours=2, minutes=5))
    hourly = PROFILES[vendor].hourly
    times = [f.time for f in frames]
    assert times == sorted(times)
    assert times[0] == WINTER
    assert times[-1] < WINTER + timedelta(hours=2, minutes=5)
    for frame in frames:
        offset = _seconds_of_hour(frame.time)
        if frame.list_name == hourly:
            assert offset == hourly_at
        else:
            assert offset % lists[frame.list_name] == 0
            assert offset % 10 == 0 or frame.list_name == "list1"
    assert [f.time.hour for f in frames if f.list_name == hourly] == [7, 8, 9]
    # No slot is skipped: the gaps are the fast cadence (Kamstrup's list 2 sits in between).
    slots = [f.time for f in frames if _seconds_of_hour(f.time) % fast == 0]
    assert {b - a for a, b in itertools.pairwise(slots)} == {timedelta(seconds=fast)}
    counts = Counter(f.list_name for f in frames)
    assert counts[hourly] == 3
    if vendor != "kamstrup":
        assert counts["list2"] == 125 * 6 - 3


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("phases", [1, 3])
def test_frames_are_valid_hdlc_in_the_vendor_layout(vendor: str, phases: int) -> None:
    meter = SimulatedMeter(vendor, WINTER, seed=3, phases=phases)
    frames = _run(meter, timedelta(hours=1, minutes=2))
    for frame in frames:
        _check_hdlc(frame.frame)
        layout = meter.layouts[frame.list_name]
        assert frame.frame[1 + 2 : 1 + 2 + len(layout.link.dest)] == layout.link.dest
        if layout.list_version is not None:
            assert meter.meter_id.encode() in frame.frame
            assert meter.meter_type.encode() in frame.frame
    assert {f.list_name for f in frames} == set(meter.layouts)


def test_single_phase_lists_have_the_vendor_element_counts() -> None:
    kaifa = SimulatedMeter("kaifa", WINTER, phases=1)
    counts = {}
    for frame in _run(kaifa, timedelta(hours=1, minutes=1)):
        # Kaifa body: 02 <count> right after the 09 0C + 12 header time.
        counts[frame.list_name] = frame.frame[1 + 2 + 1 + 2 + 1 + 2 + 3 + 5 + 14 + 1]
    assert counts == {"list1": 1, "list2": 9, "list3": 14}
    kamstrup = _run(SimulatedMeter("kamstrup", WINTER, phases=1), timedelta(seconds=10))
    assert kamstrup[0].frame.count(b"\x00\x00\x00\x00") >= 2
    assert kamstrup[0].frame[1 + 2 + 1 + 1 + 1 + 2 + 3 + 5 + 13 + 1] == 25


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("solar", [0.0, 5000.0])
def test_energy_integrates_the_reported_power(vendor: str, solar: float) -> None:
    start = datetime(2024, 6, 20, 9, 59, 50)
    meter = SimulatedMeter(vendor, start, seed=5, solar_peak_w=solar)
    frames = _run(meter, timedelta(hours=3, minutes=1))
    slot = meter.profile.fast_ms / 1000
    hourly = [f for f in frames if f.list_name == meter.profile.hourly]
    assert len(hourly) == 4  # 10:00, 11:00, 12:00, 13:00
    # One register unit: 0.01 kWh (Kamstrup NO, Aidon NO) or 0.001 kWh (Kaifa).
    resolution = {"kamstrup": 0.01, "aidon": 0.01, "kaifa": 0.001}[vendor]
    for earlier, later in itertools.pairwise(hourly):
        hour = earlier.time.replace(minute=0, second=0)
        slots = [
            f
            for f in frames
            if hour <= f.time < hour + timedelta(hours=1) and _seconds_of_hour(f.time) % slot == 0
        ]
        assert len(slots) == 3600 / slot
        # Every list carries the active import power: integrate what the frames say.
        reported = sum(_value(f, 1, 7) for f in slots) * slot / 3600 / 1000
        assert _value(later, 1, 8) - _value(earlier, 1, 8) == pytest.approx(
            reported, abs=resolution * 1.001
        )
        for c, field in enumerate(("import_w", "export_w", "import_var", "export_var"), 1):
            integrated = sum(getattr(f.sample, field) for f in slots) * slot / 3600 / 1000
            delta = _value(later, c, 8) - _value(earlier, c, 8)
            assert delta >= 0
            assert delta == pytest.approx(integrated, abs=resolution * 1.001)
        for frame in slots:
            if frame.list_name != "list1":
                assert _powers(frame) == (
                    frame.sample.import_w,
                    frame.sample.export_w,
                    frame.sample.import_var,
                    frame.sample.export_var,
                )
    if solar:
        assert max(f.sample.export_w for f in frames) > 0
        assert _value(hourly[-1], 2, 8) > _value(hourly[0], 2, 8)
    else:
        assert max(f.sample.export_w for f in frames) == 0


def _powers(frame: SimulatedFrame) -> tuple[float, ...]:
    return tuple(_value(frame, c, 7) for c in (1, 2, 3, 4))


@pytest.mark.parametrize("vendor", VENDORS)
def test_energy_is_monotonic_over_a_day(vendor: str) -> None:
    meter = SimulatedMeter(vendor, datetime(2024, 3, 1), seed=2, solar_peak_w=3000)
    hourly = [f for f in meter.simulate(timedelta(days=1)) if f.list_name == meter.profile.hourly]
    assert len(hourly) == 24
    for c in (1, 2, 3, 4):
        series = [_value(f, c, 8) for f in hourly]
        assert series == sorted(series)
    assert _value(hourly[-1], 1, 8) > _value(hourly[0], 1, 8)


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("phases", [1, 3])
def test_power_voltage_and_current_are_plausible(vendor: str, phases: int) -> None:
    meter = SimulatedMeter(vendor, WINTER, seed=11, phases=phases)
    full = [f for f in _run(meter, timedelta(hours=2)) if len(f.message.values) > 1]
    assert full
    powers = set()
    for frame in full:
        p_in, p_out = _value(frame, 1, 7), _value(frame, 2, 7)
        q_in, q_out = _value(frame, 3, 7), _value(frame, 4, 7)
        assert min(p_in, p_out, q_in, q_out) >= 0
        assert p_out == 0  # no production configured
        powers.add(p_in)
        volts = [_value(frame, 12 + 20 * k, 7) for k in range(1, phases + 1)]
        amps = [abs(_value(frame, 11 + 20 * k, 7)) for k in range(1, phases + 1)]
        assert all(227 <= v <= 233 for v in volts)
        apparent = sum(v * a for v, a in zip(volts, amps, strict=True))
        if phases == 1:
            assert apparent == pytest.approx(math.hypot(p_in, q_in), rel=0.01, abs=1.5)
        else:
            assert math.hypot(p_in, q_in) - 3 <= apparent <= p_in + q_in + 3
    assert len(powers) > 20
    assert max(powers) - min(powers) > 500  # appliances switch on and off


def test_export_shows_as_negative_current_on_aidon() -> None:
    meter = SimulatedMeter("aidon", datetime(2024, 6, 21, 12), seed=4, solar_peak_w=8000)
    frames = [f for f in _run(meter, timedelta(minutes=30)) if f.list_name == "list2"]
    assert any(_value(f, 2, 7) > 0 for f in frames)
    assert any(_value(f, 31, 7) < 0 for f in frames)


def test_aware_start_steps_through_dst_and_sets_kamstrup_dst_bit() -> None:
    oslo = ZoneInfo("Europe/Oslo")
    start = datetime(2024, 3, 31, 1, 30, tzinfo=oslo)
    frames = _run(SimulatedMeter("kamstrup", start), timedelta(hours=2))
    utc = [f.time.astimezone(UTC) for f in frames]
    assert utc == sorted(utc)
    assert len(set(utc)) == len(utc)
    hourly = [f for f in frames if f.list_name == "list2"]
    assert [(f.time.hour, f.message.clock_status) for f in hourly] == [(3, 0x80), (4, 0x80)]
    before = next(f for f in frames if f.time.utcoffset() == timedelta(hours=1))
    after = next(f for f in frames if f.time.utcoffset() == timedelta(hours=2))
    # Header date-time: wall clock, deviation 0x8000, status 0x80 only in summer time.
    assert before.message.clock_status == 0
    assert after.message.clock_status == 0x80
    assert after.frame[17:29].hex().upper().endswith("FF800080")
    assert before.frame[17:29].hex().upper().endswith("FF800000")


def test_aidon_clock_register_is_the_hour() -> None:
    frames = _run(SimulatedMeter("aidon", WINTER), timedelta(hours=1, minutes=3))
    list3 = next(f for f in frames if f.list_name == "list3")
    assert list3.time == datetime(2024, 1, 15, 7, 0, 10)
    assert list3.message.clock == datetime(2024, 1, 15, 7, 0, 0)
    assert list3.message.deviation == 0


def test_frames_between() -> None:
    meter = SimulatedMeter("kaifa", WINTER, seed=9)
    window = meter.frames_between(WINTER + timedelta(minutes=1), WINTER + timedelta(minutes=2))
    assert len(window) == 30
    assert window[0][0] == WINTER + timedelta(minutes=1)
    assert window == [
        (t, f) for t, f in meter.frames(timedelta(minutes=2)) if t >= WINTER + timedelta(minutes=1)
    ]
    assert meter.frames_between(WINTER - timedelta(hours=1), WINTER) == []


def test_identity() -> None:
    meter = SimulatedMeter("Kamstrup", WINTER, seed=1)
    assert meter.vendor == "kamstrup"
    assert len(meter.meter_id) == 16
    assert meter.meter_id.startswith("57065672")
    assert meter.meter_id == SimulatedMeter("kamstrup", WINTER, seed=1).meter_id
    assert meter.meter_id != SimulatedMeter("kamstrup", WINTER, seed=2).meter_id
    custom = SimulatedMeter("aidon", WINTER, meter_id="7359992895913195", meter_type="6534")
    assert custom.meter_id == "7359992895913195"
    assert SimulatedMeter("kaifa", WINTER, phases=1).meter_type == "MA105H2E"
    energy = SimulatedMeter("kaifa", datetime(2024, 1, 15, 6, 59, 50), energy_kwh=1234.5)
    first_list3 = next(f for f in energy.simulate() if f.list_name == "list3")
    assert 1234.5 < _value(first_list3, 1, 8) < 1234.5 + 0.1
    assert Obis.parse("1-0:1.8.0") in first_list3.message.values


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="vendor"):
        SimulatedMeter("landis", WINTER)
    with pytest.raises(ValueError, match="phases"):
        SimulatedMeter("aidon", WINTER, phases=2)


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("phases", [1, 3])
def test_decoder_reads_what_the_simulator_says(vendor: str, phases: int) -> None:
    meter = SimulatedMeter(vendor, WINTER, seed=6, phases=phases, solar_peak_w=2000)
    frames = _run(meter, timedelta(minutes=2, seconds=30))
    decoder = StreamDecoder(DecoderOptions())
    stream = b"".join(frame.frame for frame in frames)
    events = [
        event
        for start in range(0, len(stream), 97)
        for event in decoder.feed(stream[start : start + 97])
    ]
    assert len(events) == len(frames)
    for frame, reading in zip(frames, events, strict=True):
        assert isinstance(reading, Reading)
        layout = meter.layouts[frame.list_name]
        assert set(reading.values) == set(frame.message.values)
        for element in layout.registers(phases):
            assert element.obis is not None
            value = reading.values[element.obis].value
            assert isinstance(value, (int, float))
            assert (
                abs(value - frame.message.values[element.obis]) <= 10.0**element.exponent / 2 + 1e-9
            )
        if layout.list_version is not None:
            assert (reading.meter_id, reading.meter_type) == (meter.meter_id, meter.meter_type)
        if reading.timestamp is not None:
            assert reading.timestamp.replace(tzinfo=None) == frame.message.clock
