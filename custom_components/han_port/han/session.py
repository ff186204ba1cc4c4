"""Is the meter being heard: availability, the watchdog and the troubles worth telling.

A listening session decides, from what arrived and when, what the listener should do:
mark the meter available or not, when to give up waiting for the next reading, and
when a trouble has lasted long enough to tell the user (a repair issue in Home
Assistant, a hint on the command line). It keeps no clock and does no I/O: every
step is told `now` (monotonic seconds) and returns a Verdict the caller applies.

    reading(now)            a reading of the listener's meter arrived
    valid_frame()           a valid frame arrived (any meter's: the line settings are right)
    frame_error(reason, now) a frame was rejected
    no_reading(now)         bytes were decoded and no valid frame came of them
    idle(now)               a poll passed without any byte
    silence(timeout) / disconnected(reason)   the watchdog expired / the port is gone
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from .model import Reason

# The last gaps between readings that tell how often the meter sends.
INTERVALS_KEPT: Final = 8


class Trouble(StrEnum):
    """A condition that lasted long enough to tell the user about."""

    # Bytes arrive but no frame is valid: baud rate, parity or the adapter.
    NO_VALID_FRAMES = "no_valid_frames"
    # Frames arrive but do not decrypt: a new key from the grid company.
    DECRYPT_FAILING = "decrypt_failing"
    # Nothing arrives at all: the HAN port is closed, or the cable is off.
    NO_BYTES = "no_bytes"


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """How long each condition lasts before the session acts on it (seconds)."""

    # The watchdog: unavailable after max(factor x the meter's interval, minimum).
    watchdog_factor: float = 3.0
    watchdog_min: float = 30.0
    # A few bad frames between good ones (noise on the line) are no trouble.
    no_valid_frames_after: float = 300.0
    decrypt_failing_after: float = 60.0
    no_bytes_after: float = 300.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the listener does after one step.

    available: the meter's new availability, when it changed.
    watchdog: (re)arm the watchdog to expire after this many seconds.
    back: say once that data returned after an outage that was said.
    outage: say once why the meter is unavailable (this outage was not said yet).
    begun / ended: troubles to tell the user about / to withdraw.
    """

    available: bool | None = None
    watchdog: float | None = None
    back: bool = False
    outage: str | None = None
    begun: frozenset[Trouble] = frozenset()
    ended: frozenset[Trouble] = frozenset()


NOTHING: Final = Verdict()


@dataclass(slots=True)
class _Since:
    """When a condition started (None: it does not hold now)."""

    start: float | None = None

    def hold(self, now: float) -> float:
        """Note that the condition holds at `now`; return how long it has held."""
        if self.start is None:
            self.start = now
        return now - self.start


@dataclass(slots=True)
class ListenSession:
    """The decisions about one meter on one port, as the stream goes by."""

    times: SessionTimes = field(default_factory=SessionTimes)
    opened: float = 0.0
    available: bool = False
    troubles: set[Trouble] = field(default_factory=set)
    _intervals: deque[float] = field(default_factory=lambda: deque(maxlen=INTERVALS_KEPT))
    _last_reading: float | None = None
    _last_byte: float | None = None
    _outage_said: bool = False
    _invalid: _Since = field(default_factory=_Since)
    _decrypt_failing: _Since = field(default_factory=_Since)

    @property
    def gaps(self) -> tuple[float, ...]:
        """The last gaps between two readings in a row (at most INTERVALS_KEPT)."""
        return tuple(self._intervals)

    @property
    def interval(self) -> float | None:
        """The longest recent gap between two readings of a continuous stream.

        None until the meter has sent twice in a row: the watchdog then waits its
        minimum. Kamstrup sends every 10 s, Aidon every 2.5 s, a P1 meter every 1-10 s.
        """
        return max(self._intervals, default=None)

    @property
    def watchdog_timeout(self) -> float:
        """How long a silence makes the meter unavailable."""
        return max(self.times.watchdog_factor * (self.interval or 0.0), self.times.watchdog_min)

    def reading(self, now: float) -> Verdict:
        """A reading of our meter arrived: it is available and every trouble is over."""
        was_available = self.available
        if was_available and self._last_reading is not None:
            # Only gaps inside a continuous stream say how often the meter sends.
            self._intervals.append(now - self._last_reading)
        self._last_reading = now
        self._last_byte = now
        self._invalid.start = None
        self._decrypt_failing.start = None
        ended = frozenset(self.troubles)
        self.troubles.clear()
        self.available = True
        back = not was_available and self._outage_said
        if back:
            self._outage_said = False
        return Verdict(
            available=None if was_available else True,
            watchdog=self.watchdog_timeout,
            back=back,
            ended=ended,
        )

    def valid_frame(self) -> None:
        """A valid frame arrived, from whatever meter: the line is right."""
        self._invalid.start = None

    def frame_error(self, reason: Reason, now: float) -> Verdict:
        """A frame was rejected for `reason`."""
        if reason in (Reason.DECRYPT, Reason.NO_KEY):
            # no_key on a listener that has a key cannot happen; on one without, the
            # meter started encrypting: the same fix (enter the key) applies.
            held = self._decrypt_failing.hold(now)
            if held >= self.times.decrypt_failing_after:
                return self._begin(Trouble.DECRYPT_FAILING)
        return NOTHING

    def no_reading(self, now: float) -> Verdict:
        """Bytes were decoded and no valid frame came of them."""
        self._last_byte = now
        ended = self._end(Trouble.NO_BYTES)
        held = self._invalid.hold(now)
        # Frames that arrive but do not decrypt are the decrypt trouble, not this one.
        if held >= self.times.no_valid_frames_after and self._decrypt_failing.start is None:
            return self._begin(Trouble.NO_VALID_FRAMES, ended)
        return Verdict(ended=ended) if ended else NOTHING

    def idle(self, now: float) -> Verdict:
        """A poll passed without any byte (for listeners that poll)."""
        last = self.opened if self._last_byte is None else self._last_byte
        if now - last < self.times.no_bytes_after:
            return NOTHING
        # Noise that stopped is not noise any more: it must last anew to be told.
        self._invalid.start = None
        return self._begin(Trouble.NO_BYTES, self._end(Trouble.NO_VALID_FRAMES))

    def silence(self, timeout: float) -> Verdict:
        """The watchdog expired: no reading for `timeout` seconds."""
        return self._unavailable(f"no valid reading for {timeout:.0f} s")

    def disconnected(self, reason: str | None) -> Verdict:
        """The port was lost or closed."""
        self._invalid.start = None
        return self._unavailable(f"lost the connection ({reason})")

    def _unavailable(self, why: str) -> Verdict:
        self._last_reading = None
        outage = None if self._outage_said else why
        self._outage_said = True
        was_available = self.available
        self.available = False
        return Verdict(available=False if was_available else None, outage=outage)

    def _begin(self, trouble: Trouble, ended: frozenset[Trouble] = frozenset()) -> Verdict:
        if trouble in self.troubles:
            return Verdict(ended=ended) if ended else NOTHING
        self.troubles.add(trouble)
        return Verdict(begun=frozenset((trouble,)), ended=ended)

    def _end(self, trouble: Trouble) -> frozenset[Trouble]:
        if trouble not in self.troubles:
            return frozenset()
        self.troubles.discard(trouble)
        return frozenset((trouble,))
