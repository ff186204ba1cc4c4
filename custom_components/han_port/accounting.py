"""Hourly energy accounting: each hour's energy booked in the hour it was used.

Norwegian meters send their cumulative energy registers once an hour, a few seconds
after the hour: Aidon list 3 stamped hh:00:00, Kamstrup list 2 hh:00:05, Kaifa list 3
hh:00:10 (the captures in tests/fixtures/corpus.json). A register that changes at
hh:00:05 would book the hour that just ended into the next one. This module turns
register readings into one row per UTC hour, `start` being the hour the energy was
used, ready to import as long-term statistics. It is plain Python: no Home Assistant,
no I/O, no clock of its own; the caller passes arrival times.

API
---
``HourRow(start, energy, sum, state, estimated=False)``
    One hour. ``start``: aware UTC, on the hour, the hour the energy was used.
    ``energy``: used in [start, start + 1 h), register units, >= 0. ``sum``: running
    total of ``energy`` over the series. ``state``: the register value at the hour's
    end when it was read, None for the inner hours of a gap. ``estimated``: the energy
    is not a measured difference (a share of a gap, or an hour with a re-base).

``HourlyRegister(last=None, *, window=BOUNDARY_WINDOW, clock_tolerance=CLOCK_TOLERANCE)``
    One register's accounting. ``last`` is the last row already imported: ``sum`` and
    ``state`` continue from it (only ``start``, ``sum`` and ``state`` are used).
    ``add(value, arrival, meter_time=None) -> list[HourRow]`` takes a reading and
    returns the rows it completes: none, one a normal hour, several after a gap.
    Read-only: ``last_value``, ``last_boundary``, ``boundary_value``,
    ``running_energy``, ``sum``; counters ``rebased``, ``ignored``, ``stale``.

``snapshot_time(arrival, meter_time, *, tolerance=CLOCK_TOLERANCE) -> datetime``
    When a reading's values were taken, on the caller's clock.

``hour_cost(energy, prices, start, end) -> float | None``,
``mean_price(prices, start, end) -> float | None``,
``price_factor_per_kwh(unit) -> float | None``: cost of an hour from recorded prices.

Rules
-----
Boundary. A reading gives the register value at hour boundary B (a UTC hour) when it
was taken within ``window`` (5 min) after B and no value for B was taken yet. Other
readings only update the latest value. Meters that send registers every few seconds
(P1, the Swedish and Danish lists) therefore give B's value with their first reading
after B, by the same rule as the hour-end lists. Boundaries are UTC hours, so local
days of 23 and 25 hours come out right with no special case.

The meter's own clock. Kamstrup and Kaifa send naive local time (deviation "not
specified"); Aidon NO sends deviation 0 with the daylight-saving bit clear, also in
July (the aidon-no-list3 capture: 21:00:00 on 2020-07-21). Taken at its word that
is UTC, and the clear daylight-saving bit fits; but a local clock labelled with a
wrong deviation looks the same, other readers treat Aidon's clock as Norwegian
standard time (amsreader-firmware subtracts an hour), and the capture has no arrival
time to settle it. Swedish Aidon and P1 meters send naive local time (P1 with a
summer/winter flag), Swedish Kaifa aware CET. So the hour a meter states is never
used. What is robust is the minutes and seconds: time zone offsets here are whole
hours, so mm:ss mean the same whatever the zone (an aware time is first turned into
UTC, which also covers a half-hour offset; a naive time in a half-hour zone is not
covered). The meter's mm:ss say the reading was taken s seconds after some hour; on
the caller's clock that hour is the UTC hour nearest to arrival - s. When arrival - s
lies within ``clock_tolerance`` (10 min) of that hour, the reading was taken at
hour + s: a register stamped hh:00:05 that arrives at hh:59:58 on the caller's clock
(meter 7 s ahead) is the value at the next hour, and a P1 telegram stamped hh:59:58
that arrives at hh:00:01 still belongs to the hour before. Otherwise the meter clock
is off, or not a clock, and arrival time decides. The tolerance is generous because
an hour-end meter has no other signal: with a meter clock a few minutes ahead of the
caller's, arrival alone falls before the hour and no boundary is ever taken; 10 min
stays far from the half hour where the hour would become ambiguous. The DST change
needs nothing: mm:ss do not change with it, so the repeated 02:00 of October is
whichever one fits the arrival.

Stale snapshot. Some Aidon meters repeat the previous hour's list 3 (registers and
clock unchanged) at the next hour (amsreader-firmware issue 1119). A reading whose
meter time and value equal those of the reading taken at the previous boundary is
counted in ``stale`` and ignored, so that hour is filled from the next boundary like
a gap instead of getting 0 followed by a double hour. (A naive meter clock shows
02:00 twice in October; should no energy at all be used in between, that reading
looks stale too, and the next hour's energy is shared over both: the total holds.)

Rows. The row for [B - 1 h, B) is value(B) - value(B - 1 h). When the previous known
boundary is k > 1 hours before B (the caller was down, the meter silent) the
difference is spread evenly over the k hours; all k rows are estimated, the last one
carries the register value read at B as its ``state`` (it was measured, and a restart
from that row needs it) and the others None.

Start and restart. The first reading of a new series only sets the baseline (the
first boundary value; readings between boundaries do not): no row, ``sum`` starts at
0. ``HourlyRegister(last=row)`` continues from ``row.sum`` and ``row.state`` as the
value at ``row.start + 1 h``: a reading for that boundary again (a restart at hh:00:03
after the row was written) books nothing, so nothing is counted twice, and a reading
hours later fills the gap as above. A ``last`` row without a state continues the sum
and takes the next boundary as a new baseline.

Decrease. A register that goes down (meter swap, scale change, reset) is re-based:
the energy up to the drop is kept, the new value becomes the reference, ``rebased``
goes up by one (the caller logs once), no row is ever negative, and the row holding
the drop is estimated. A drop of at most 1e-9 relative is float noise: no change.

Junk. Non-finite or negative values, and values above MAX_REGISTER, are ignored and
counted in ``ignored``: a difference of two such values could overflow to infinity.

Cost. A price series is a list of (time, price per kWh) samples as recorded: each is
in effect from its time until the next; None (or a non-finite number) means the
price was unknown then. The cost of an hour is the energy times the time-weighted
mean price over [start, end) (15-minute prices count a quarter each). It is None
unless a price is known for the whole interval: a cost built on part of an hour
would be wrong by an unknown amount, and the caller can still book the energy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import math
from typing import Final

HOUR: Final = timedelta(hours=1)
BOUNDARY_WINDOW: Final = timedelta(minutes=5)
CLOCK_TOLERANCE: Final = timedelta(minutes=10)
NOISE: Final = 1e-9  # relative drop treated as float noise, not a decrease
# No meter register holds more: 10^12 kWh is a thousand years of a large power
# station's output. Anything above is a decoding accident, not energy.
MAX_REGISTER: Final = 1e12

_HALF_HOUR: Final = timedelta(minutes=30)
_PER_KWH: Final = {"wh": 1000.0, "kwh": 1.0, "mwh": 0.001}


@dataclass(frozen=True, slots=True)
class HourRow:
    """The energy used in one UTC hour."""

    start: datetime
    energy: float
    sum: float
    state: float | None
    estimated: bool = False


def floor_hour(moment: datetime) -> datetime:
    """The UTC hour that `moment` (aware) falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def snapshot_time(
    arrival: datetime, meter_time: datetime | None, *, tolerance: timedelta = CLOCK_TOLERANCE
) -> datetime:
    """When a reading's values were taken, on the clock `arrival` comes from (UTC).

    Only the meter's minutes and seconds are used (see the module docstring); a meter
    time that does not fit the arrival within `tolerance` is ignored.
    """
    arrival = _utc(arrival)
    if meter_time is None:
        return arrival
    if meter_time.utcoffset() is not None:
        meter_time = meter_time.astimezone(UTC)
    past = timedelta(
        minutes=meter_time.minute, seconds=meter_time.second, microseconds=meter_time.microsecond
    )
    hour = floor_hour(arrival - past + _HALF_HOUR)
    if abs(arrival - past - hour) > tolerance:
        return arrival
    return hour + past


class HourlyRegister:
    """One energy register's hourly accounting (rules in the module docstring)."""

    def __init__(
        self,
        last: HourRow | None = None,
        *,
        window: timedelta = BOUNDARY_WINDOW,
        clock_tolerance: timedelta = CLOCK_TOLERANCE,
    ) -> None:
        """Start a new series, or continue after `last`, the last row imported."""
        if not timedelta(0) < window < HOUR:
            raise ValueError(f"window must be between 0 and 1 hour, not {window}")
        if not timedelta(0) <= clock_tolerance < _HALF_HOUR:
            raise ValueError(f"clock_tolerance must be under 30 minutes, not {clock_tolerance}")
        self._window = window
        self._tolerance = clock_tolerance
        self._sum = 0.0
        self._boundary: datetime | None = None
        self._base: float | None = None  # value the energy since _boundary counts from
        self._carried = 0.0  # energy since _boundary from before a re-base
        self._rebased_since_boundary = False
        self._boundary_value: float | None = None
        self._boundary_meter_time: datetime | None = None
        self._last_value: float | None = None
        self.rebased = 0
        self.ignored = 0
        self.stale = 0
        if last is not None:
            if last.start.utcoffset() is None:
                raise ValueError("last.start must be timezone-aware")
            self._sum = last.sum
            self._boundary = floor_hour(last.start) + HOUR
            self._base = self._boundary_value = self._last_value = last.state

    @property
    def sum(self) -> float:
        """Running total booked up to `last_boundary`."""
        return self._sum

    @property
    def last_value(self) -> float | None:
        """The latest accepted register value."""
        return self._last_value

    @property
    def last_boundary(self) -> datetime | None:
        """The latest hour boundary booked (or set as baseline)."""
        return self._boundary

    @property
    def boundary_value(self) -> float | None:
        """The register value read at `last_boundary`; None when unknown."""
        return self._boundary_value

    @property
    def running_energy(self) -> float | None:
        """Energy used since `last_boundary` as far as read; None without a baseline."""
        if self._base is None or self._last_value is None:
            return None
        return self._carried + self._last_value - self._base

    def add(
        self, value: float, arrival: datetime, meter_time: datetime | None = None
    ) -> list[HourRow]:
        """Take one register reading; return the rows it completes, oldest first.

        `arrival` is when the reading arrived (aware); `meter_time` is the meter's own
        timestamp as decoded (aware, naive local, or None).
        """
        arrival = _utc(arrival)
        if not math.isfinite(value) or not 0 <= value <= MAX_REGISTER:
            self.ignored += 1
            return []
        if (
            meter_time is not None
            and meter_time == self._boundary_meter_time
            and value == self._boundary_value
        ):
            self.stale += 1
            return []
        value = self._follow(value)
        taken = snapshot_time(arrival, meter_time, tolerance=self._tolerance)
        boundary = floor_hour(taken)
        if taken - boundary >= self._window or not self._new_boundary(boundary):
            return []
        rows = []
        if self._boundary is not None and self._base is not None:
            rows = self._book(self._boundary, self._base, boundary, value)
        self._boundary = boundary
        self._base = self._boundary_value = value
        self._boundary_meter_time = meter_time
        self._carried = 0.0
        self._rebased_since_boundary = False
        return rows

    def _new_boundary(self, boundary: datetime) -> bool:
        """Whether `boundary` still needs its value (a stateless resume needs its own)."""
        if self._boundary is None:
            return True
        return boundary > self._boundary or (boundary == self._boundary and self._base is None)

    def _follow(self, value: float) -> float:
        """Track the latest value; re-base on a decrease, absorb float noise."""
        last = self._last_value
        if last is not None and value < last:
            if last - value <= NOISE * last:
                value = last
            else:
                self.rebased += 1
                self._rebased_since_boundary = True
                if self._base is not None:
                    self._carried += last - self._base
                    self._base = value
        self._last_value = value
        return value

    def _book(
        self, previous: datetime, base: float, boundary: datetime, value: float
    ) -> list[HourRow]:
        """Rows from `previous` (where the register read `base`) up to `boundary`."""
        hours = (boundary - previous) // HOUR
        total = self._carried + value - base
        start_sum = self._sum
        self._sum = start_sum + total
        if hours == 1:
            return [HourRow(previous, total, self._sum, value, self._rebased_since_boundary)]
        share = total / hours
        rows = [
            HourRow(previous + i * HOUR, share, start_sum + total * (i + 1) / hours, None, True)
            for i in range(hours - 1)
        ]
        rows.append(HourRow(boundary - HOUR, share, self._sum, value, estimated=True))
        return rows


def mean_price(
    prices: Iterable[tuple[datetime, float | None]], start: datetime, end: datetime
) -> float | None:
    """Time-weighted mean price over [start, end); None unless known for all of it."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")
    samples = sorted(((_utc(when), price) for when, price in prices), key=lambda s: s[0])
    weighted = 0.0
    for index, (when, price) in enumerate(samples):
        until = samples[index + 1][0] if index + 1 < len(samples) else end
        lo, hi = max(when, start), min(until, end)
        if hi <= lo:
            continue
        if price is None or not math.isfinite(price):
            return None
        weighted += price * (hi - lo).total_seconds()
    if not samples or samples[0][0] > start:
        return None
    return weighted / (end - start).total_seconds()


def hour_cost(
    energy: float,
    prices: Iterable[tuple[datetime, float | None]],
    start: datetime,
    end: datetime,
) -> float | None:
    """`energy` (kWh) times the mean price over [start, end); None if a price is missing."""
    price = mean_price(prices, start, end)
    return None if price is None else energy * price


def price_factor_per_kwh(unit: str | None) -> float | None:
    """Factor from a price unit "X/kWh", "X/MWh" or "X/Wh" to X per kWh; else None."""
    if unit is None or unit.count("/") != 1:
        return None
    currency, energy = (part.strip() for part in unit.split("/"))
    if not currency:
        return None
    return _PER_KWH.get(energy.lower())


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} must be timezone-aware")
    return moment.astimezone(UTC)
