"""The Norwegian capacity tariff ("kapasitetsledd", "effekttrinn") and the running interval.

Norwegian grid companies charge a monthly capacity fee from the average of the month's
highest hourly consumptions (kWh/h), one per local day, placed on a step ladder that each
company sets. This module answers, for a given `now`: which peaks count so far, which step
the month is on, and how much power may still be drawn for the rest of the current
interval without raising the month into the next step.

Pure like `han/`: no Home Assistant, no I/O and no clock. Every function takes `now` and the
local time zone as arguments, so the HA sensors, the tests and a script compute the same.

Times: all datetimes must be aware. Metering intervals are aligned on the UTC epoch
(`interval_start`), which for whole-hour or quarter-hour UTC offsets (all of Europe) are
the local hours and quarters; a day or month is the LOCAL day or month (`tz`), and a
row belongs to the local day and month of its start, so the month rolls over at local
midnight on the 1st and a DST day has 23 or 25 hours.

Interval length: a parameter everywhere (one hour today). A peak's value is the interval's
mean power in kWh/h (= kW): energy / interval length in hours, so 15-minute values fit the
same ladder without a redesign.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from itertools import pairwise
import math
import re
from typing import Protocol

HOUR = timedelta(hours=1)
"""The metering interval of Norwegian HAN meters today."""

DEFAULT_LADDER: tuple[float, ...] = (2.0, 5.0, 10.0, 15.0, 20.0, 25.0, 50.0, 75.0, 100.0)
"""Step upper limits in kWh/h of Elvia, BKK and Glitre; the step above the last is open."""

DEFAULT_COUNT = 3
"""How many days' peaks the grid companies average."""

DEFAULT_MAX_GAP = timedelta(minutes=2)
"""How long a power value is trusted without a newer one.

HAN meters send power every 2 to 10 s, so two minutes is a dozen or more lost frames; a
longer silence is an outage whose energy the next register reading settles.
"""

# Averages are compared with the limits at 1 mWh/h, far below the meters' 1 Wh resolution:
# (8.2 + 5.1 + 1.7) / 3 is 4.999999999999999 in floating point but exactly on the 5 kWh/h
# limit, and a value on a limit belongs to the step above.
_DECIMALS = 6
_MARGIN = 10.0**-_DECIMALS
_J_PER_KWH = 3_600_000.0
_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class IntervalRow(Protocol):
    """One completed metering interval, as the hourly accounting keeps it.

    `accounting.HourRow` satisfies this protocol (its `estimated` is true for rows spread
    over a gap between two registers, which must never count as a measured peak).
    """

    @property
    def start(self) -> datetime:
        """Aware start of the interval."""
        ...  # pragma: no cover

    @property
    def energy(self) -> float:
        """kWh used in the interval."""
        ...  # pragma: no cover

    @property
    def estimated(self) -> bool:
        """True when the energy was spread over a gap rather than measured."""
        ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class IntervalEnergy:
    """A plain `IntervalRow`."""

    start: datetime
    energy: float
    estimated: bool = False


class PeakMethod(StrEnum):
    """How the grid company picks the month's peaks."""

    TOP_DAYS = "top_days"
    """The average of the `count` highest intervals, at most one per local day."""
    TOP_HOUR = "top_hour"
    """The single highest interval of the month (`count` does not apply)."""


class LadderError(ValueError):
    """A step ladder that cannot be used; `reason` is a key for the options form."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CapacityStep:
    """One step of the ladder: from `lower` (inclusive) up to `upper` (exclusive)."""

    number: int
    """1-based."""
    lower: float
    upper: float | None
    """None for the open-ended top step."""

    @property
    def label(self) -> str:
        """Lower and upper limit joined by an en dash, or "at least" the top step's lower."""
        if self.upper is None:
            return f"\u2265 {_number(self.lower)} kWh/h"
        return f"{_number(self.lower)}\u2013{_number(self.upper)} kWh/h"


@dataclass(frozen=True, slots=True)
class Peak:
    """One interval that counts towards the month's capacity step."""

    value: float
    """Mean power over the interval in kWh/h (the energy, for one-hour intervals)."""
    day: date
    """The local day it belongs to."""
    start: datetime
    """Local start of the interval (aware, in the given time zone)."""

    @property
    def hour(self) -> int:
        """The local hour the interval starts in."""
        return self.start.hour


@dataclass(frozen=True, slots=True)
class CapacityStatus:
    """The month's capacity tariff as it stands at `now`."""

    month: date
    """First day of the local month."""
    interval_start: datetime
    """UTC start of the interval `now` is in."""
    interval_end: datetime
    peaks: tuple[Peak, ...]
    """The completed, measured peaks that count so far, highest first."""
    average: float
    """Average of `peaks` in kWh/h (0.0 before the month's first completed interval)."""
    step: CapacityStep
    """The step the completed intervals put the month on."""
    used: float
    """kWh used so far in the current interval."""
    headroom: float | None
    """Whole watts that may still be drawn until the interval ends without raising the
    month above `step`; 0 once crossed, None on the open top step. It is the energy left
    spread over the time left, so it grows large in the interval's last minutes."""
    projected_average: float | None
    """The average with the current interval counted at its estimated total."""
    projected_step: CapacityStep | None

    @property
    def limit(self) -> float | None:
        """The current step's upper limit in kWh/h."""
        return self.step.upper


@dataclass(frozen=True, slots=True)
class EnergyTotals:
    """Energy of one direction (import or export) so far today and this month, in kWh."""

    today: float
    month: float


def interval_start(at: datetime, interval: timedelta = HOUR) -> datetime:
    """The UTC start of the metering interval that `at` falls in."""
    _check_interval(interval)
    utc = _utc(at, "at")
    return utc - (utc - _EPOCH) % interval


def check_ladder(ladder: Iterable[float]) -> tuple[float, ...]:
    """The ladder as a tuple of floats, or LadderError if it cannot be used."""
    limits = tuple(float(limit) for limit in ladder)
    if not limits:
        raise LadderError("empty", "The ladder needs at least one step limit")
    for limit in limits:
        if not math.isfinite(limit):
            raise LadderError("not_a_number", f"{limit} is not a finite number of kWh/h")
        if limit <= 0:
            raise LadderError("not_positive", f"Step limit {_number(limit)} must be above 0")
    for lower, upper in pairwise(limits):
        if upper <= lower:
            raise LadderError(
                "not_increasing",
                f"Step limits must increase: {_number(upper)} follows {_number(lower)}",
            )
    return limits


def parse_ladder(text: str) -> tuple[float, ...]:
    """Step upper limits in kWh/h from text such as "2, 5, 10, 15, 20, 25, 50, 75, 100".

    Limits are separated by commas or spaces with a decimal point ("2.5, 5"); when the text
    holds a semicolon, semicolons separate and a comma may be the decimal mark ("2,5; 5").
    Raises LadderError with a reason and a message that names the offending item.
    """
    decimal_comma = ";" in text
    items = text.split(";") if decimal_comma else re.split(r"[\s,]+", text)
    limits = []
    for item in (item.strip() for item in items):
        if not item:
            continue
        try:
            limits.append(float(item.replace(",", ".") if decimal_comma else item))
        except ValueError:
            raise LadderError("not_a_number", f"'{item}' is not a number of kWh/h") from None
    return check_ladder(limits)


def format_ladder(ladder: Sequence[float]) -> str:
    """The text `parse_ladder` reads back into the same ladder."""
    return ", ".join(_number(limit) for limit in ladder)


def step_for(value: float, ladder: Sequence[float] = DEFAULT_LADDER) -> CapacityStep:
    """The step a month's average of `value` kWh/h falls in; on a limit means the step above."""
    limits = check_ladder(ladder)
    index = bisect_right(limits, round(value, _DECIMALS))
    lower = limits[index - 1] if index else 0.0
    upper = limits[index] if index < len(limits) else None
    return CapacityStep(number=index + 1, lower=lower, upper=upper)


def month_peaks(
    rows: Iterable[IntervalRow],
    now: datetime,
    tz: tzinfo,
    *,
    method: PeakMethod = PeakMethod.TOP_DAYS,
    count: int = DEFAULT_COUNT,
    interval: timedelta = HOUR,
) -> tuple[Peak, ...]:
    """The completed, measured intervals of the local month of `now` that set its step."""
    current = interval_start(now, interval)
    groups = _month_groups(rows, current, tz, method, interval)
    return _top(groups, _peak_count(method, count))


def capacity_status(
    rows: Iterable[IntervalRow],
    now: datetime,
    tz: tzinfo,
    *,
    used: float = 0.0,
    estimate: float | None = None,
    ladder: Sequence[float] = DEFAULT_LADDER,
    method: PeakMethod = PeakMethod.TOP_DAYS,
    count: int = DEFAULT_COUNT,
    interval: timedelta = HOUR,
) -> CapacityStatus:
    """The month's peaks, step and headroom at `now`.

    `rows` are completed intervals (any months; those of other months and those starting
    at or after the current interval are left out); `used` is the kWh already used in the
    current interval and `estimate` its expected total (e.g. `RunningInterval.estimate`).

    With fewer than `count` days so far the average is over the days that exist, as the
    grid companies bill a month with few days of consumption; so a new day's first hour
    counts as one more day and may lower the average.

    Headroom: the largest total E for this interval that keeps the month's average, with
    this interval counted as it would be, strictly below the step's upper limit; then
    (E - used) spread over the time left, in whole watts rounded down, never negative.
    """
    limits = check_ladder(ladder)
    current = interval_start(now, interval)
    end = current + interval
    now_utc = _utc(now, "now")
    _check_energy(used, "used")
    if estimate is not None:
        _check_energy(estimate, "estimate")
    peak_count = _peak_count(method, count)
    groups = _month_groups(rows, current, tz, method, interval)
    peaks = _top(groups, peak_count)
    average = _average(peaks)
    step = step_for(average, limits)
    hours = interval / HOUR
    key = _group_key(current, tz, method)

    headroom = None
    if step.upper is not None:
        # The value this interval may reach, in kWh/h, kept 1 mWh/h below the limit so that
        # the rounded average stays strictly below it.
        allowed = _largest_value(groups, key, peak_count, step.upper - _MARGIN) * hours
        left = (end - now_utc) / HOUR
        headroom = 0.0
        if allowed > used:
            headroom = float(math.floor((allowed - used) / left * 1000.0))

    projected_average = projected_step = None
    if estimate is not None:
        local = current.astimezone(tz)
        candidate = Peak(estimate / hours, local.date(), local)
        projected = dict(groups)
        if key not in projected or _higher(candidate, projected[key]):
            projected[key] = candidate
        projected_average = _average(_top(projected, peak_count))
        projected_step = step_for(projected_average, limits)

    local_current = current.astimezone(tz)
    return CapacityStatus(
        month=local_current.date().replace(day=1),
        interval_start=current,
        interval_end=end,
        peaks=peaks,
        average=average,
        step=step,
        used=used,
        headroom=headroom,
        projected_average=projected_average,
        projected_step=projected_step,
    )


def energy_totals(
    rows: Iterable[IntervalRow],
    now: datetime,
    tz: tzinfo,
    running: RunningInterval | None = None,
    *,
    interval: timedelta = HOUR,
) -> EnergyTotals:
    """kWh of one direction so far in the local day and month of `now`.

    Completed rows count whether measured or estimated. The running accumulator adds the
    current interval and every interval whose row has not arrived yet (the hour that just
    ended, until its register is booked), so the totals do not dip at the hour change.
    """
    current = interval_start(now, interval)
    if running is not None and running.interval != interval:
        raise ValueError(f"The running interval is {running.interval}, not {interval}")
    local = current.astimezone(tz)
    today_total = month_total = 0.0
    booked: set[datetime] = set()

    def add(start: datetime, energy: float) -> None:
        nonlocal today_total, month_total
        day = start.astimezone(tz).date()
        if (day.year, day.month) == (local.year, local.month):
            month_total += energy
            if day == local.date():
                today_total += energy

    for row in rows:
        start = _utc(row.start, "row start")
        if start < current:
            booked.add(start)
            add(start, row.energy)
    if running is not None:
        for start, energy in running.energies(now).items():
            if start <= current and start not in booked:
                add(start, energy)
    return EnergyTotals(today=today_total, month=month_total)


@dataclass(slots=True)
class _Point:
    """The meter's energy register as estimated at one moment."""

    at: datetime
    counter: float


class RunningInterval:
    """Energy of one direction in the running interval, from power samples and registers.

    Power is integrated hold-last-value: a sample's power holds until the next sample,
    since loads switch in steps and this is the same rule that projects the current power
    to the end of the interval. A power value holds for at most `max_gap`, so an outage is
    never bridged with an old value (and the energy counted so far never decreases).

    Register readings (the meter's cumulative kWh, at the hour end or, for P1 meters, in
    every telegram) re-anchor the estimate: the energy between two readings is their
    difference, the error found is spread over the time since the previous reading, and
    an interval between two readings on its boundaries gets the meter's true energy.

    All times are aware datetimes on the same clock (the meter's or Home Assistant's):
    interval boundaries are wall-clock facts a monotonic clock cannot give.
    """

    def __init__(
        self,
        interval: timedelta = HOUR,
        *,
        max_gap: timedelta = DEFAULT_MAX_GAP,
        keep: timedelta = _DAY,
    ) -> None:
        _check_interval(interval)
        if max_gap <= timedelta(0):
            raise ValueError("max_gap must be positive")
        self.interval = interval
        self.max_gap = max_gap
        # Interval estimates are kept this long, in case their rows are late.
        self._keep = keep
        self._points: list[_Point] = []
        self._power: float | None = None
        self._power_at: datetime | None = None
        self._register_at: datetime | None = None

    def add_power(self, at: datetime, power: float) -> bool:
        """Feed one power sample in W; False if it is older than what was already fed."""
        at = _utc(at, "at")
        if not math.isfinite(power) or power < 0:
            raise ValueError(f"Power must be a finite number of W, at least 0, not {power}")
        if self._points and at < self._points[-1].at:
            return False
        if self._points:
            self._advance(at)
        else:
            self._points.append(_Point(at, 0.0))
        self._power = power
        self._power_at = at
        return True

    def add_register(self, at: datetime, total: float) -> bool:
        """Feed the meter's cumulative register (kWh) as it was at `at`.

        Returns False when the reading cannot be placed: older than the first sample or
        than the previous reading.
        """
        at = _utc(at, "at")
        _check_energy(total, "total")
        if not self._points:
            self._points.append(_Point(at, total))
            self._register_at = at
            return True
        if at < self._points[0].at or (self._register_at is not None and at < self._register_at):
            return False
        if at > self._points[-1].at:
            self._advance(at)
        index = bisect_right(self._points, at, key=_point_time) - 1
        if self._points[index].at != at:
            insort(self._points, _Point(at, self._counter_at(at)), key=_point_time)
            index += 1
        delta = total - self._points[index].counter
        previous = self._register_at
        # Points after the reading carry the whole error; points since the previous reading
        # a share growing with time; without a previous reading the whole curve moves.
        for point in reversed(self._points):
            if point.at >= at or previous is None:
                point.counter += delta
            elif point.at > previous:
                point.counter += delta * ((point.at - previous) / (at - previous))
            else:
                break
        self._register_at = at
        return True

    def used(self, now: datetime) -> float:
        """kWh used since the current interval started (or since the first sample)."""
        now = _utc(now, "now")
        if not self._points:
            return 0.0
        begin = max(interval_start(now, self.interval), self._points[0].at)
        if now <= begin:
            return 0.0
        return max(0.0, self._counter_at(now) - self._counter_at(begin))

    def power(self, now: datetime) -> float | None:
        """The latest power in W, or None when none is fresher than `max_gap`."""
        now = _utc(now, "now")
        if self._power_at is None or now - self._power_at > self.max_gap:
            return None
        return self._power

    def estimate(self, now: datetime) -> float:
        """The interval's expected total in kWh: used so far + current power x time left."""
        now = _utc(now, "now")
        power = self.power(now) or 0.0
        left = interval_start(now, self.interval) + self.interval - now
        return self.used(now) + power * left.total_seconds() / _J_PER_KWH

    def energies(self, now: datetime) -> dict[datetime, float]:
        """kWh per interval (UTC start) this accumulator knows, the current one up to `now`."""
        now = _utc(now, "now")
        if not self._points:
            return {}
        first = self._points[0].at
        starts = {interval_start(first, self.interval), interval_start(now, self.interval)}
        starts.update(point.at for point in self._points if self._on_boundary(point.at))
        result = {}
        for start in sorted(starts):
            begin = max(start, first)
            end = min(start + self.interval, now)
            if end > begin:
                result[start] = max(0.0, self._counter_at(end) - self._counter_at(begin))
        return result

    def _on_boundary(self, at: datetime) -> bool:
        return (at - _EPOCH) % self.interval == timedelta(0)

    def _held(self, begin: datetime, end: datetime) -> float:
        """kWh the latest power contributes between `begin` and `end`."""
        if self._power is None or self._power_at is None:
            return 0.0
        low = max(begin, self._power_at)
        high = min(end, self._power_at + self.max_gap)
        if high <= low:
            return 0.0
        return self._power * (high - low).total_seconds() / _J_PER_KWH

    def _counter_at(self, at: datetime) -> float:
        last = self._points[-1]
        if at >= last.at:
            return last.counter + self._held(last.at, at)
        index = bisect_right(self._points, at, key=_point_time) - 1
        before, after = self._points[index], self._points[index + 1]
        # Power is constant between two points (samples, boundaries and the end of a hold
        # are all points), so the register grows linearly in between.
        share = (at - before.at) / (after.at - before.at)
        return before.counter + (after.counter - before.counter) * share

    def _advance(self, to: datetime) -> None:
        """Extend the estimate to `to`, with a point on every boundary and hold end."""
        last = self._points[-1].at
        if to <= last:
            return
        marks = set()
        if self._power_at is not None and last < self._power_at + self.max_gap < to:
            marks.add(self._power_at + self.max_gap)
        boundary = interval_start(last, self.interval) + self.interval
        crossed = boundary <= to
        # After a long silence only the boundaries still worth keeping get a point.
        boundary = max(boundary, interval_start(to - self._keep, self.interval))
        while boundary < to:
            marks.add(boundary)
            boundary += self.interval
        for mark in sorted(marks):
            self._points.append(_Point(mark, self._counter_at(mark)))
        self._points.append(_Point(to, self._counter_at(to)))
        if crossed:
            self._prune(to)

    def _prune(self, now: datetime) -> None:
        """Drop fine points before the previous interval and boundaries beyond `keep`."""
        previous = interval_start(now, self.interval) - self.interval
        oldest = now - self._keep
        first = self._points[0]
        self._points = [
            point
            for point in self._points
            if point.at >= previous
            or (point.at >= oldest and (point is first or self._on_boundary(point.at)))
        ]


def _point_time(point: _Point) -> datetime:
    return point.at


def _utc(at: datetime, name: str) -> datetime:
    """`at` in UTC; aware datetimes only, since a naive one would silently mean host time."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {at!r}")
    return at.astimezone(UTC)


def _check_interval(interval: timedelta) -> None:
    if interval <= timedelta(0) or interval > _DAY or _DAY % interval:
        raise ValueError(f"The interval must divide a day evenly, not {interval}")


def _check_energy(value: float, name: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of kWh, at least 0, not {value}")


def _number(value: float) -> str:
    """2.0 -> "2", 2.5 -> "2.5": how a limit is written in labels and in the form."""
    return str(int(value)) if value.is_integer() else repr(value)


def _peak_count(method: PeakMethod, count: int) -> int:
    if method is PeakMethod.TOP_HOUR:
        return 1
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    return count


def _group_key(start: datetime, tz: tzinfo, method: PeakMethod) -> date | datetime:
    """Peaks compete within a group: a local day, or (top hour) each interval on its own."""
    if method is PeakMethod.TOP_HOUR:
        return start
    return start.astimezone(tz).date()


def _higher(peak: Peak, other: Peak) -> bool:
    """Ties go to the earlier interval, so the choice does not depend on row order."""
    return peak.value > other.value or (peak.value == other.value and peak.start < other.start)


def _month_groups(
    rows: Iterable[IntervalRow],
    current: datetime,
    tz: tzinfo,
    method: PeakMethod,
    interval: timedelta,
) -> dict[date | datetime, Peak]:
    """The highest measured interval of each group in the local month of `current`."""
    local_current = current.astimezone(tz)
    month = (local_current.year, local_current.month)
    hours = interval / HOUR
    groups: dict[date | datetime, Peak] = {}
    for row in rows:
        start = _utc(row.start, "row start")
        if row.estimated or start >= current:
            continue
        local = start.astimezone(tz)
        if (local.year, local.month) != month:
            continue
        peak = Peak(row.energy / hours, local.date(), local)
        key = _group_key(start, tz, method)
        if key not in groups or _higher(peak, groups[key]):
            groups[key] = peak
    return groups


def _top(groups: dict[date | datetime, Peak], count: int) -> tuple[Peak, ...]:
    return tuple(sorted(groups.values(), key=lambda peak: (-peak.value, peak.start))[:count])


def _average(peaks: Sequence[Peak]) -> float:
    if not peaks:
        return 0.0
    return round(sum(peak.value for peak in peaks) / len(peaks), _DECIMALS)


def _largest_value(
    groups: dict[date | datetime, Peak], key: date | datetime, count: int, target: float
) -> float:
    """The largest kWh/h the current interval may reach and keep the average at most `target`.

    With the current group's value u and the other groups' values sorted d1 >= d2 >= ...,
    m = min(count, others + 1) groups are averaged and the sum is S + max(u, d_count), where
    S is the sum of the m - 1 highest others (d_count only exists with `count` others). The
    average is non-decreasing in u, so the bound is u <= target * m - S. When an earlier
    peak of the current group or d_count is above that bound, the average is already within
    the last 1 mWh/h below the limit (still on the step after rounding), and u may rise to
    that peak without changing it.
    """
    others = sorted((peak.value for k, peak in groups.items() if k != key), reverse=True)
    averaged = min(count, len(others) + 1)
    bound = target * averaged - sum(others[: averaged - 1])
    floor = others[count - 1] if len(others) >= count else bound
    earlier = groups[key].value if key in groups else bound
    return max(bound, floor, earlier)
