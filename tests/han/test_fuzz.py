"""The decoder under hostile input: a short seeded fuzz run, and every bug fuzzing found.

The engine is devtools/fuzzing.py; scripts/fuzz runs it for as long as you like. Here
it runs a few thousand inputs from a fixed seed, so a failure replays with
`scripts/fuzz --seed 20261126 --replay INDEX`.

Each bug the fuzzer found has a named regression test (test_regression_*) that feeds
the exact input it found, kept in tests/han/regressions/*.hex; where a finding's root
cause also breaks things the fuzzer did not reach, or a timing row pointed at a slow
path, the test feeds the input that isolates it (the .hex comments and docstrings say
which). Bugs not yet fixed are strict xfails, and the short run tolerates their
findings only while their regression input still shows the bug, so a fix makes both
the xfail and the tolerance lapse.
"""

from __future__ import annotations

from functools import cache
import math
from pathlib import Path
import random
import time

import pytest

from custom_components.han_port.han.model import FrameError, Reading, Transport
from custom_components.han_port.han.options import DecoderOptions
from custom_components.han_port.han.stream import StreamDecoder
from devtools.fuzzing import (
    BUFFER_LIMIT,
    TEST_AUTH_KEY,
    TEST_KEY,
    Case,
    Generator,
    Material,
    Outcome,
    Timing,
    check,
    data_notification,
    deep_structure,
    event_key,
    fuzz,
    growing,
    hdlc_frame,
    huge_array,
    huge_string,
    load_materials,
    scaling,
    seal,
    traced_peak,
)

SEED = 20261126
SHORT_RUN = 4000  # inputs: a few seconds, every recipe drawn a hundred times or more
REGRESSIONS = Path(__file__).parent / "regressions"
LLC = b"\xe6\xe7\x00"


@cache
def materials() -> dict[str, Material]:
    return {material.name: material for material in load_materials()}


@cache
def generator() -> Generator:
    return Generator(list(materials().values()))


def regression_input(name: str) -> bytes:
    """The exact bytes of tests/han/regressions/NAME.hex (lines after # comments)."""
    text = (REGRESSIONS / f"{name}.hex").read_text(encoding="utf-8")
    return bytes.fromhex("".join(line for line in text.splitlines() if not line.startswith("#")))


def replay(name: str, options: DecoderOptions) -> Outcome:
    """Run a stored input through every invariant, under the engine's time limit."""
    return check(Case(f"regression-{name}", regression_input(name), options))


def signatures(outcome: Outcome) -> list[str]:
    return [finding.signature for finding in outcome.findings]


def _scaler_options() -> DecoderOptions:
    return DecoderOptions(transport=Transport.HDLC, country="NO")


def test_short_run_breaks_no_invariant() -> None:
    """A seeded run: nothing raises or hangs, no reading from a corrupt frame, and so on."""
    summary = fuzz(generator(), SEED, inputs=SHORT_RUN, memory_every=0)
    assert summary.inputs == SHORT_RUN
    report = "\n\n".join(
        f"{signature} ({summary.finding_counts[signature]}x)\n{finding.case.describe()[:600]}\n"
        f"{finding.detail[-1500:]}"
        for signature, finding in summary.findings.items()
    )
    assert not summary.findings, report
    # Every recipe ran, so a generator that silently broke would show here.
    assert len(summary.categories) >= 20, summary.categories
    assert summary.max_buffer < BUFFER_LIMIT


def test_same_seed_same_inputs() -> None:
    """Replays depend on it: (seed, index) alone must rebuild a case."""
    first = [generator().case(SEED, index) for index in range(100)]
    again = [Generator(list(materials().values())).case(SEED, index) for index in range(100)]
    assert [case.data for case in first] == [case.data for case in again]
    assert [case.cuts for case in first] == [case.cuts for case in again]


# -- the named monsters, one by one ------------------------------------------------


def _hdlc_events(apdu: bytes) -> list[Reading | FrameError]:
    decoder = StreamDecoder(DecoderOptions(transport=Transport.HDLC))
    return decoder.feed(hdlc_frame(LLC + apdu)) + decoder.flush()


@pytest.mark.parametrize(
    ("name", "body"),
    [
        pytest.param(name, body, id=name)
        for name, body in (
            ("structure 1000 deep", deep_structure(1000)),
            ("structure 17 deep", deep_structure(17, b"\x12\x00\x01")),
            ("array count 0xFFFFFFFF", huge_array()),
            ("array count 4097", huge_array(4097)),
            ("string claiming 64 KiB", b"\x02\x01" + huge_string(present=100)),
            ("length form 0x85", b"\x01\x85\x00\x00\x00\x00\x01\x00"),
            ("length form 0x80", b"\x09\x80"),
            ("unknown tag", b"\x02\x01\xff"),
            ("empty body", b""),
        )
    ],
)
def test_hostile_axdr_is_a_frame_error(name: str, body: bytes) -> None:
    """Sealed frames whose A-XDR lies: one malformed-content error, fast, no reading."""
    started = time.process_time()
    events = _hdlc_events(data_notification(body))
    # CPU time, not wall-clock: a regression here is a hang (10**1.8e9, a loop over
    # 4 billion elements), seconds to hours of CPU; a loaded machine only slows the
    # wall clock.
    assert time.process_time() - started < 2.0, name
    assert len(events) == 1, events
    assert isinstance(events[0], FrameError)
    assert events[0].reason in {"malformed", "unsupported"}, events[0]


def test_64_kib_string_over_hdlc_segments() -> None:
    """A real 64 KiB octet-string needs 33 segmented frames; the message is refused whole."""
    apdu = data_notification(b"\x02\x01" + huge_string())
    data = seal(materials()["aidon-no-list2-3ph-hassams"], apdu)
    case = Case("64k", data, DecoderOptions(transport=Transport.HDLC), sealed=True)
    outcome = check(case)
    assert outcome.findings == []
    assert outcome.readings == 0
    assert outcome.max_buffer < BUFFER_LIMIT
    # The segments are held until the last one (64 KiB) and joined once: a few times
    # the message, not a copy per segment.
    assert traced_peak(case) < 4 * len(data)


def test_flags_inside_the_payload_do_not_split_the_frame() -> None:
    """HAN meters do not byte-stuff: 7E inside a value must not end the frame."""
    material = materials()["kamstrup-no-list1-3ph-2022-amshan"]
    assert material.apdu is not None
    # Active import power 1-1:1.7.0 (double-long-unsigned after its OBIS) becomes 7E7E7E7E.
    at = material.apdu.index(bytes.fromhex("090601010107 00FF")) + 9
    apdu = material.apdu[:at] + b"\x7e" * 4 + material.apdu[at + 4 :]
    data = seal(material, apdu)
    for transport in (Transport.AUTO, Transport.HDLC):
        decoder = StreamDecoder(DecoderOptions(transport=transport))
        events = decoder.feed(data) + decoder.flush()
        assert len(events) == 1
        assert isinstance(events[0], Reading)
        assert 0x7E7E7E7E in [m.value for m in events[0].values.values()]


# -- memory, buffer and time ---------------------------------------------------------------


def test_buffer_stays_bounded_under_a_megabyte_of_noise() -> None:
    rng = random.Random(SEED)
    noise = rng.randbytes(1 << 20)
    decoder = StreamDecoder()
    for pos in range(0, len(noise), 4096):
        decoder.feed(noise[pos : pos + 4096])
        assert decoder.stats.buffered < BUFFER_LIMIT
    assert not [event for event in decoder.flush() if isinstance(event, Reading)]


def test_time_per_byte_does_not_grow_with_size() -> None:
    """1 KiB vs 1 MiB of noise, in one feed and in 256-byte feeds (best of three)."""
    best: dict[tuple[str, int], float] = {}
    for attempt in range(3):
        for timing in scaling(
            random.Random(attempt), (1024, 1 << 20), limit=10, streams=("random",)
        ):
            key = (timing.stream, timing.size)
            best[key] = min(best.get(key, math.inf), timing.us_per_byte)
    for stream in ("random in one feed", "random in 256-byte feeds"):
        small, large = best[stream, 1024], best[stream, 1 << 20]
        assert large < 3 * small + 0.05, f"{stream}: {small:.3f} -> {large:.3f} µs/byte"


def test_growing_flags_a_quadratic_stream() -> None:
    """The judge of the timing rows in scripts/fuzz: linear passes, growing is flagged."""
    rows = [Timing("a", 1024, 1.0), Timing("a", 65536, 1.0), Timing("a", 1 << 20, 1.2)]
    assert growing(rows) == []
    rows[-1] = Timing("a", 1 << 20, 16.0)
    assert len(growing(rows)) == 1


# -- regressions: every bug the fuzzer found, by name --------------------------------------

# Aidon list 1 (aidon-no-list1-3ph-hassams) sends its one register as a structure
# (OBIS, value, structure(scaler, unit)); the scaler is an A-XDR integer (int8). The
# decoder takes any integer type there, and fuzzing put other types in its place.


def test_regression_scaler_u32_hangs() -> None:
    """Scaler sent as double-long-unsigned 0x6E8CFD50: 10**1854733648 never finishes."""
    outcome = replay("scaler_u32_hangs", _scaler_options())
    assert signatures(outcome) == []


def test_regression_scaler_beyond_float_range() -> None:
    outcome = replay("scaler_beyond_float_range", _scaler_options())
    assert signatures(outcome) == []


def test_regression_float_value_with_huge_scaler_raises() -> None:
    decoder = StreamDecoder(_scaler_options())
    decoder.feed(regression_input("float_value_huge_scaler"))
    decoder.flush()


def test_regression_scaled_value_infinite() -> None:
    outcome = replay("scaled_value_infinite", _scaler_options())
    assert signatures(outcome) == []


def _system_title_case() -> Case:
    """The MA309 capture re-encrypted under another system title, after the original."""
    material = materials()["kaifa-at-ma309-mbus-encrypted-tinetz-example"]
    return Case(
        "regression-system-title",
        regression_input("shape_cache_system_title"),
        DecoderOptions(transport=Transport.MBUS, key=material.options.key, country="AT"),
        baseline=material.data,
    )


def test_regression_shape_cache_ignores_system_title() -> None:
    """Same plaintext under system title KAM... after KFM...: fast and full path agree.

    The shape cache keyed shapes by APDU bytes alone while the vendor rules also read
    the system title, so the cached shape handed out the first meter's manufacturer.
    """
    case = _system_title_case()
    assert case.baseline is not None
    options = case.options
    fresh = StreamDecoder(options)
    full = [event_key(event) for event in fresh.feed(case.data) + fresh.flush()]
    primed = StreamDecoder(options)
    primed.feed(case.baseline)
    primed.flush()
    fast = [event_key(event) for event in primed.feed(case.data) + primed.flush()]
    assert fast == full


def test_regression_authentication_stripped() -> None:
    """SC 0x30 -> 0x20, tag dropped, one ciphertext bit flipped: GCM-CTR flips that bit."""
    decoder = StreamDecoder(
        DecoderOptions(transport=Transport.MBUS, key=TEST_KEY, auth_key=TEST_AUTH_KEY)
    )
    events = decoder.feed(regression_input("authentication_stripped")) + decoder.flush()
    assert not [event for event in events if isinstance(event, Reading)]
    assert [event.reason for event in events if isinstance(event, FrameError)] == ["decrypt"]


def test_regression_ciphered_telegram_content_is_no_framing_error() -> None:
    """Authenticated plaintext that starts with "/" but is no telegram: content, not line."""
    options = DecoderOptions(
        transport=Transport.MBUS, key=TEST_KEY, auth_key=TEST_AUTH_KEY, country="AT"
    )
    outcome = replay("ciphered_telegram_framing_error", options)
    assert signatures(outcome) == []
    decoder = StreamDecoder(options)
    events = decoder.feed(regression_input("ciphered_telegram_framing_error")) + decoder.flush()
    errors = [event for event in events if isinstance(event, FrameError)]
    assert [error.reason for error in errors] == ["malformed"]
    assert errors[0].detail == "decrypted P1 telegram has byte 0x00 at offset 1"
    assert not [event for event in events if isinstance(event, Reading)]


def test_regression_auto_hunt_rescans_to_the_end() -> None:
    """Bytes bytearray.find examines per input byte must not grow with the chunk."""
    examined = []
    for size in (4096, 65536):
        buffer = _CountingBuffer()
        decoder = StreamDecoder()
        decoder._buf = buffer
        decoder.feed(b"a/" * (size // 2))
        decoder.flush()
        examined.append(buffer.examined / size)
    assert examined[1] < 2 * examined[0] + 64, examined


class _CountingBuffer(bytearray):
    """A decoder buffer that counts the bytes its find() calls may examine."""

    examined = 0

    def find(self, sub: object, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        low = start or 0
        high = len(self) if end is None else min(end, len(self))
        found = super().find(sub, low, high)  # type: ignore[arg-type]
        self.examined += (found if found >= 0 else high) - low
        return found


# The fuzzer's worst time per byte (55 µs/byte, a 2 KiB random-bytes case fed a byte at
# a time) came from P1: once a "!" has arrived anywhere after a "/XXX5" identification
# line, StreamDecoder._p1_ready lets every later byte rerun p1.find_end from the "/",
# which searches the whole candidate again: quadratic up to P1_MAX_LENGTH (8 KiB).
P1_EARLY_BANG = b"/ABC5 ident\r\n\r\nx!" + b"1-0:1.8.0(000123.456*kWh)\r\n" * 160


def test_regression_p1_candidate_rescanned_per_byte() -> None:
    """A text stream with a stray '!', fed a byte at a time: work per byte stays flat."""
    buffer = _CountingBuffer()
    decoder = StreamDecoder()
    decoder._buf = buffer
    for index in range(len(P1_EARLY_BANG)):
        decoder.feed(P1_EARLY_BANG[index : index + 1])
    assert buffer.examined / len(P1_EARLY_BANG) < 64, buffer.examined / len(P1_EARLY_BANG)
