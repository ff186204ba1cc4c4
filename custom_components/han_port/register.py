"""What a cumulative register (kWh, kvarh, m3) shows: no glitch, and a way past a re-base.

Home Assistant's statistics take a TOTAL_INCREASING sensor's decrease as a new meter
cycle that starts at 0 (sensor/recorder.py, compile_statistics: "Force a new cycle
for an existing sensor to start at 0"), so the whole new value is added to the sum
once more. A changed last_reset (state class TOTAL) starts such a cycle too, and an
unknown or unavailable state in between changes nothing: the statistics compare with
the last number they kept. A register that restarts lower would therefore put a spike
into the Energy dashboard however it is shown.

So a register never shows a decrease. When its series restarts for a reason (the
meter was replaced, the decoder's unit for it changed, the current-transformer scale
changed, or the meter keeps sending a lower value), the shown value stays where it
was and later increases are added to it: the dashboard sees neither a spike nor a
double count, only the energy measured since. A single odd value, and a 0 after a
real value, are glitches and are not shown.

Plain: no Home Assistant, no clock of its own (the caller passes monotonic seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import math
from typing import Final

# A value that contradicts what is shown (lower than it, or a first 0) is believed
# once it has come this many times in a row, non-decreasing, over at least this long.
# An hourly register (Aidon, Kaifa list 3) thus needs three hours; a P1 telegram
# every 10 s needs half an hour.
SETTLE_READINGS: Final = 3
SETTLE_SECONDS: Final = 1800.0

# The shown value is the meter's plus an offset after a re-base; float sums carry
# noise in the last bits that would read as a change of state.
_DIGITS: Final = 6


@dataclass(frozen=True, slots=True)
class RegisterBasis:
    """What a register's values are counted against; a change restarts the series.

    meter: the entry's meter id (or entry id when the meter sends none).
    exponent: the decoder's power of ten for the raw value when the frame carries
        no scaler (Kamstrup energy: -2 in Norway, -3 in Sweden); None when unknown.
    scale: the current-transformer factor the value is multiplied by.
    """

    meter: str
    exponent: int | None
    scale: float

    def continues(self, old: RegisterBasis) -> bool:
        """Whether values counted against this basis go on from those against `old`.

        An empty meter names none (a P1 sub-meter whose id has not come yet): the
        meter that then names itself is the one that was counted.
        """
        same_meter = not self.meter or not old.meter or self.meter == old.meter
        return same_meter and (self.exponent, self.scale) == (old.exponent, old.scale)

    def changes_from(self, old: RegisterBasis) -> str:
        """Why the series restarts, for the log (no meter id: it identifies a household)."""
        if old.meter != self.meter:
            return "the meter was replaced"
        if old.exponent != self.exponent:
            return "the decoder's unit for it changed (Home Assistant's country)"
        return "the current-transformer scale changed"


class Rebase(StrEnum):
    """Why a register's series was restarted."""

    BASIS = "basis"  # the meter, the decoder's unit or the scale changed
    PERSISTED = "persisted"  # the meter kept sending a lower value


@dataclass(frozen=True, slots=True)
class RegisterChange:
    """A value to show; with `rebase`, the series was restarted to get it."""

    shown: float
    rebase: Rebase | None = None
    previous_basis: RegisterBasis | None = None
    lower: float | None = None  # the first lower value of a persisted re-base


@dataclass(slots=True)
class _Pending:
    """Values that contradict the shown one, waiting to be believed."""

    first: float
    last: float
    since: float
    readings: int = 1


class RegisterSeries:
    """The shown value of one register, its offset to the meter's and their basis."""

    def __init__(
        self,
        shown: float | None = None,
        offset: float = 0.0,
        basis: RegisterBasis | None = None,
    ) -> None:
        self.shown = shown
        self.offset = offset
        self.basis = basis
        self._pending: _Pending | None = None

    def update(self, value: float, basis: RegisterBasis, now: float) -> RegisterChange | None:
        """Take the meter's `value` (>= 0, in the shown unit); what to show, or None."""
        if not math.isfinite(value) or value < 0:
            return None
        shown = self.shown
        if shown is None:
            # Nothing known yet: a value is taken at once, except a 0, which may be a
            # glitch and would make the real value that follows look like a spike.
            if value > 0 or self._settled(value, now):
                self._restart(value, 0.0, basis)
                return RegisterChange(value)
            return None
        if self.basis is None or (basis.meter and basis.continues(self.basis)):
            # Stored by a version that kept no basis (it was counted against this
            # one), or the meter has named itself: remembered.
            self.basis = basis
        elif not basis.continues(self.basis):
            previous = self.basis
            self._restart(shown, self._offset_to(shown, value), basis)
            return RegisterChange(shown, Rebase.BASIS, previous)
        candidate = self._shown_for(value)
        if candidate >= shown:
            self._pending = None
            if candidate == shown:
                return None
            self.shown = candidate
            return RegisterChange(candidate)
        if value == 0 or not self._settled(value, now):
            # A 0 after a real value is a glitch however often it comes.
            return None
        assert self._pending is not None
        first = self._pending.first
        self._pending = None
        self.offset = self._offset_to(shown, first)
        self.shown = self._shown_for(value)
        return RegisterChange(self.shown, Rebase.PERSISTED, lower=first)

    def _settled(self, value: float, now: float) -> bool:
        pending = self._pending
        if pending is None or value < pending.last:
            pending = self._pending = _Pending(value, value, now)
        else:
            pending.last = value
            pending.readings += 1
        return pending.readings >= SETTLE_READINGS and now - pending.since >= SETTLE_SECONDS

    def _restart(self, shown: float, offset: float, basis: RegisterBasis) -> None:
        self.shown = shown
        self.offset = offset
        self.basis = basis
        self._pending = None

    def _shown_for(self, value: float) -> float:
        return round(value + self.offset, _DIGITS) if self.offset else value

    @staticmethod
    def _offset_to(shown: float, value: float) -> float:
        """The offset that makes `value` show as `shown`."""
        return round(shown - value, _DIGITS)
