"""The listening session's decisions, step by step (han/session.py).

Plain: no Home Assistant, no clock; `now` is monotonic seconds chosen by the test.
"""

from __future__ import annotations

from hypothesis import given, strategies as st

from custom_components.han_port.han.model import Reason
from custom_components.han_port.han.session import (
    INTERVALS_KEPT,
    NOTHING,
    ListenSession,
    SessionTimes,
    Trouble,
    Verdict,
)

TIMES = SessionTimes(
    watchdog_factor=3.0,
    watchdog_min=30.0,
    no_valid_frames_after=300.0,
    decrypt_failing_after=60.0,
    no_bytes_after=20.0,
)


def test_first_reading_makes_the_meter_available_with_the_minimum_watchdog() -> None:
    session = ListenSession(TIMES)
    assert not session.available
    assert session.reading(0.0) == Verdict(available=True, watchdog=30.0)
    assert session.available
    assert session.interval is None


def test_watchdog_follows_the_longest_recent_gap() -> None:
    session = ListenSession(TIMES)
    # Kamstrup: every 10 s -> 3 x 10 s is still below the 30 s minimum.
    for second in range(0, 50, 10):
        verdict = session.reading(float(second))
    assert session.interval == 10.0
    assert verdict == Verdict(watchdog=30.0)
    # One 25 s gap (a missed frame): the watchdog waits 75 s from then on.
    assert session.reading(65.0).watchdog == 75.0
    # The gap leaves the window after INTERVALS_KEPT more readings.
    now = 65.0
    for _ in range(INTERVALS_KEPT):
        now += 10.0
        verdict = session.reading(now)
    assert len(session.gaps) == INTERVALS_KEPT
    assert verdict.watchdog == 30.0


def test_gaps_across_an_outage_do_not_count() -> None:
    session = ListenSession(TIMES)
    session.reading(0.0)
    session.reading(2.5)
    assert session.silence(30.0) == Verdict(available=False, outage="no valid reading for 30 s")
    # The meter is back an hour later: that hour is not how often it sends.
    session.reading(3600.0)
    assert session.gaps == (2.5,)
    assert session.reading(3602.5).watchdog == 30.0


def test_outage_and_return_are_said_once_each() -> None:
    session = ListenSession(TIMES)
    session.reading(0.0)
    assert session.disconnected("port closed") == Verdict(
        available=False, outage="lost the connection (port closed)"
    )
    # The watchdog and a second disconnect in the same outage: nothing new to say.
    assert session.silence(30.0) == NOTHING
    assert session.disconnected("port closed") == NOTHING
    back = session.reading(100.0)
    assert back.available is True
    assert back.back
    assert not session.reading(102.0).back


def test_an_outage_said_before_the_first_reading_ends_with_back() -> None:
    session = ListenSession(TIMES)
    # The port failed at start and nothing arrived yet: unavailable is no change,
    # but the outage was said, so the first reading says the meter is back.
    assert session.silence(30.0) == Verdict(outage="no valid reading for 30 s")
    assert session.reading(40.0) == Verdict(available=True, watchdog=30.0, back=True)


def test_decrypt_failing_begins_after_its_time_and_a_reading_ends_it() -> None:
    session = ListenSession(TIMES)
    assert session.frame_error(Reason.DECRYPT, 0.0) == NOTHING
    assert session.frame_error(Reason.DECRYPT, 59.9) == NOTHING
    assert session.frame_error(Reason.NO_KEY, 60.0) == Verdict(
        begun=frozenset({Trouble.DECRYPT_FAILING})
    )
    # Said once while it lasts.
    assert session.frame_error(Reason.DECRYPT, 120.0) == NOTHING
    ended = session.reading(130.0)
    assert ended.ended == frozenset({Trouble.DECRYPT_FAILING})
    assert session.troubles == set()
    # A new failure needs its own minute.
    assert session.frame_error(Reason.DECRYPT, 140.0) == NOTHING
    assert session.frame_error(Reason.DECRYPT, 199.0) == NOTHING


def test_other_rejections_are_not_a_decrypt_trouble() -> None:
    session = ListenSession(TIMES)
    for second in range(0, 600, 10):
        assert session.frame_error(Reason.CRC, float(second)) == NOTHING


def test_no_valid_frames_begins_after_its_time_unless_decryption_is_the_trouble() -> None:
    session = ListenSession(TIMES)
    assert session.no_reading(0.0) == NOTHING
    assert session.no_reading(299.0) == NOTHING
    assert session.no_reading(300.0).begun == frozenset({Trouble.NO_VALID_FRAMES})
    assert session.no_reading(301.0) == NOTHING

    decrypting = ListenSession(TIMES)
    decrypting.frame_error(Reason.DECRYPT, 0.0)
    decrypting.no_reading(0.0)
    # Frames arrive and fail to decrypt: the key is the fix, not the baud rate.
    assert Trouble.NO_VALID_FRAMES not in decrypting.no_reading(400.0).begun


def test_any_valid_frame_restarts_the_no_valid_frames_time() -> None:
    session = ListenSession(TIMES)
    session.no_reading(0.0)
    # A neighbour's reading on a shared bus: the line settings are right.
    session.valid_frame()
    assert session.no_reading(250.0) == NOTHING
    assert session.no_reading(549.0) == NOTHING
    assert session.no_reading(550.0).begun == frozenset({Trouble.NO_VALID_FRAMES})


def test_a_lost_port_restarts_the_no_valid_frames_time() -> None:
    session = ListenSession(TIMES)
    session.no_reading(0.0)
    session.disconnected("unplugged")
    assert session.no_reading(300.0) == NOTHING
    assert session.no_reading(600.0).begun == frozenset({Trouble.NO_VALID_FRAMES})


def test_no_bytes_is_told_once_and_ends_when_bytes_flow() -> None:
    session = ListenSession(TIMES, opened=100.0)
    assert session.idle(119.0) == NOTHING
    assert session.idle(120.0) == Verdict(begun=frozenset({Trouble.NO_BYTES}))
    assert session.idle(200.0) == NOTHING
    assert session.no_reading(201.0) == Verdict(ended=frozenset({Trouble.NO_BYTES}))
    # Noise for a while, then silence: the noise is over and must last anew.
    session.no_reading(210.0)
    assert session.idle(229.0) == NOTHING
    silent = session.idle(230.0)
    assert silent.begun == frozenset({Trouble.NO_BYTES})
    assert session.no_reading(231.0) == Verdict(ended=frozenset({Trouble.NO_BYTES}))
    assert session.no_reading(530.0) == NOTHING
    assert session.no_reading(531.0).begun == frozenset({Trouble.NO_VALID_FRAMES})


def test_noise_that_stops_ends_its_trouble() -> None:
    session = ListenSession(TIMES)
    session.no_reading(0.0)
    session.no_reading(300.0)
    assert session.idle(320.0) == Verdict(
        begun=frozenset({Trouble.NO_BYTES}), ended=frozenset({Trouble.NO_VALID_FRAMES})
    )


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["reading", "valid", "decrypt", "crc", "none", "idle", "silence", "lost"]),
        st.floats(min_value=0.0, max_value=400.0, allow_nan=False),
    ),
    max_size=60,
)


@given(STEPS)
def test_troubles_begin_and_end_in_turn_and_availability_changes_are_real(
    steps: list[tuple[str, float]],
) -> None:
    session = ListenSession(TIMES)
    now = 0.0
    told: set[Trouble] = set()
    outage_said = False
    for step, gap in steps:
        now += gap
        was_available = session.available
        match step:
            case "reading":
                verdict = session.reading(now)
            case "valid":
                session.valid_frame()
                verdict = NOTHING
            case "decrypt":
                verdict = session.frame_error(Reason.DECRYPT, now)
            case "crc":
                verdict = session.frame_error(Reason.CRC, now)
            case "none":
                verdict = session.no_reading(now)
            case "idle":
                verdict = session.idle(now)
            case "silence":
                verdict = session.silence(30.0)
            case _:
                verdict = session.disconnected("gone")
        # A trouble is told once, withdrawn only when told, and never both at once.
        assert not verdict.begun & told
        assert verdict.ended <= told
        assert not verdict.begun & verdict.ended
        told = (told - verdict.ended) | verdict.begun
        assert told == session.troubles
        # Availability is reported only when it changes.
        if verdict.available is not None:
            assert verdict.available != was_available
        assert session.available == (
            was_available if verdict.available is None else verdict.available
        )
        # The outage is said once per outage, and "back" only after it was said.
        if verdict.outage is not None:
            assert not outage_said
            outage_said = True
        if verdict.back:
            assert outage_said
            outage_said = False
        if verdict.watchdog is not None:
            assert verdict.watchdog >= TIMES.watchdog_min
