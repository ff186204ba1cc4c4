"""Whose reading is it: the entry's meter, another meter on the bus, or its replacement.

A port can carry more than one meter: a shared M-Bus in a block of flats, a bridge
moved to the neighbour's meter. Their readings must never mix into this meter's
sensors. When the grid company replaces the meter, though, the new one is the only
meter left on the port, and the user wants the same sensors to go on with it.

The two look alike frame by frame; over time they differ. A neighbour's meter sends
while ours does: an id seen between two of our own readings is a neighbour and never
a replacement. A replacement appears after ours has gone quiet and is the one meter
that keeps sending for a while. Only then is it offered (the hub raises a repair
issue; the user decides).

Plain: no Home Assistant, no clock of its own (the caller passes monotonic seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# A meter id is offered as the replacement once it has been the only meter sending
# (ours silent) for this long and this many readings. A meter sends its id every
# 2 to 10 s (Kamstrup every list, Aidon/Kaifa list 2 every 10 s, P1 every telegram).
SWAP_AFTER_SECONDS: Final = 900.0
SWAP_AFTER_READINGS: Final = 30

# Bounded: a bus can carry many meters, memory must not grow with them.
MAX_NEIGHBOURS: Final = 16
MAX_CANDIDATES: Final = 4


@dataclass(frozen=True, slots=True)
class Attribution:
    """What one reading is to the entry.

    own: the reading is shown (it is ours, or nothing in it says otherwise).
    identified: its meter id or system title names our meter (not just "no mismatch").
    mismatch: what named another meter ("meter id" / "system title") when not own.
    learnt_title: our system title, learnt from this reading (to be stored).
    """

    own: bool
    identified: bool = False
    mismatch: str | None = None
    learnt_title: bytes | None = None


@dataclass(frozen=True, slots=True)
class Replacement:
    """A meter that has taken our meter's place on the port."""

    meter_id: str
    system_title: bytes | None


@dataclass(slots=True)
class _Candidate:
    first_seen: float
    readings: int = 0
    system_title: bytes | None = None


class MeterFilter:
    """Tells the entry's readings from other meters' and notices a replacement."""

    def __init__(self, meter_id: str | None, system_title: bytes | None) -> None:
        self.meter_id = meter_id
        self.system_title = system_title
        self._neighbours: dict[str, None] = {}  # ordered: the oldest is dropped first
        self._candidates: dict[str, _Candidate] = {}

    def attribute(
        self, meter_id: str | None, system_title: bytes | None, now: float
    ) -> Attribution:
        """Whose reading this is; remembers what that says about the meters on the port.

        The meter id is compared when both sides have one (Swedish P1 ports send none);
        the system title once one is known, so that an encrypted list without a meter
        id (Kaifa and Aidon list 1) is checked too. An empty meter id (some lists pad
        the field) names no meter at all.
        """
        ours = self.meter_id
        wrong_id = bool(meter_id) and ours is not None and meter_id != ours
        wrong_title = (
            system_title is not None
            and self.system_title is not None
            and system_title != self.system_title
        )
        if wrong_id or wrong_title:
            if meter_id and wrong_id:
                self._count_candidate(meter_id, system_title, now)
            return Attribution(False, mismatch="meter id" if wrong_id else "system title")
        learnt: bytes | None = None
        # Learn the title only from a reading the meter id vouches for (or on an entry
        # without one), so that a neighbour's list 1 can never be learnt.
        if (
            system_title is not None
            and self.system_title is None
            and (ours is None or meter_id == ours)
        ):
            self.system_title = learnt = system_title
        identified = (ours is not None and meter_id == ours) or (
            system_title is not None and system_title == self.system_title
        )
        if identified and self._candidates:
            # They sent while ours did: neighbours on a shared bus, not a replacement.
            for other in self._candidates:
                self._neighbours.pop(other, None)
                self._neighbours[other] = None
            while len(self._neighbours) > MAX_NEIGHBOURS:
                del self._neighbours[next(iter(self._neighbours))]
            self._candidates.clear()
        return Attribution(True, identified=identified, learnt_title=learnt)

    def _count_candidate(self, meter_id: str, system_title: bytes | None, now: float) -> None:
        if meter_id in self._neighbours:
            return
        candidate = self._candidates.get(meter_id)
        if candidate is None:
            if len(self._candidates) >= MAX_CANDIDATES:
                return
            candidate = self._candidates[meter_id] = _Candidate(now)
        candidate.readings += 1
        if system_title is not None:
            candidate.system_title = system_title

    def replacement(self, now: float) -> Replacement | None:
        """The one meter that has replaced ours, once it has sent alone long enough.

        Several meters sending without ours (a shared bus after a restart, when the
        neighbours are not known yet) are no answer: which one is ours cannot be told.
        """
        if self.meter_id is None:
            return None
        ready = [
            Replacement(meter_id, candidate.system_title)
            for meter_id, candidate in self._candidates.items()
            if candidate.readings >= SWAP_AFTER_READINGS
            and now - candidate.first_seen >= SWAP_AFTER_SECONDS
        ]
        return ready[0] if len(ready) == 1 else None
