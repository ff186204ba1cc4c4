"""The hub between the decoder and the entities.

Bytes from the reader go into the StreamDecoder; each Reading is fanned out to the
entities listening for the OBIS codes it carries (an Aidon list 1 frame wakes one
entity, not forty). The decisions are made by plain objects that take `now` and
return what to do: han.session.ListenSession (availability, the watchdog's timeout,
when a trouble becomes a repair issue) and meter_filter.MeterFilter (whose reading
it is). The hub applies them: timers, log lines, repair issues, the device registry,
and keeps what diagnostics show.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
import logging
import time
from typing import TYPE_CHECKING, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir

from .const import (
    CONF_DEVICE,
    CONF_SEEN_OBIS,
    CONF_SOURCE,
    CONF_SUB_METERS,
    CONF_SYSTEM_TITLE,
    CONF_TOPIC,
    DOMAIN,
    ISSUE_DECRYPT_FAILING,
    ISSUE_METER_REPLACED,
    ISSUE_NO_VALID_FRAMES,
    LOGGER,
    SOURCE_MQTT,
)
from .han import DecoderOptions, Event, FrameError, Measurement, Obis, Reading, StreamDecoder
from .han.model import P1Reading, SubMeter
from .han.session import ListenSession, SessionTimes, Trouble, Verdict
from .meter_filter import MeterFilter
from .mqtt_source import source_name

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

# The watchdog: unavailable after max(3 x the meter's interval, 30 s). Bytes arriving
# without one valid frame for 5 min raise a repair issue (a few bad frames between
# good ones are noise on the line); decryption failing for 1 min (a new key from the
# grid company) raises one.
SESSION_TIMES: Final = SessionTimes(
    watchdog_factor=3.0,
    watchdog_min=30.0,
    no_valid_frames_after=300.0,
    decrypt_failing_after=60.0,
)
# The repair issue each trouble raises (NO_BYTES: the watchdog's outage covers it).
TROUBLE_ISSUES: Final = {
    Trouble.NO_VALID_FRAMES: ISSUE_NO_VALID_FRAMES,
    Trouble.DECRYPT_FAILING: ISSUE_DECRYPT_FAILING,
}

# Pseudo-keys for the values a Reading carries outside its OBIS list.
KEY_METER_ID: Final = "meter_id"
KEY_LIST_VERSION: Final = "list_version"
# After a value's key, the key of the time the meter measured it (captured_key).
CAPTURED_SUFFIX: Final = "_time"


# Kept for diagnostics only; small and bounded.
LAST_READINGS: Final = 4
# The raw window holds two of the longest P1 telegrams seen in the captures
# (0.9 kB each) or a dozen HDLC frames.
LAST_BYTES: Final = 4096
# Sizes of the last reads: how the adapter or bridge delivers the stream.
LAST_CHUNKS: Final = 8
LAST_ERRORS: Final = 8
# Ids and system titles of other meters seen on the port, kept only so that
# diagnostics can cut them out of raw chunks.
FOREIGN_IDS: Final = 4

type ValueListener = Callable[[Measurement, float], None]
type ReadingListener = Callable[[Reading], None]

# Monotonic seconds; tests replace it to play an hour of frames in a second.
monotonic: Callable[[], float] = time.monotonic


def entity_key(obis: Obis) -> str:
    """The key an entity is made for: C.D.E, whatever the channel B.

    Kamstrup sends active power as 1-1:1.7.0 and everybody else as 1-0:1.7.0; both
    are the same quantity. Electricity (A=1) keys are "C.D.E"; other codes keep A
    ("0-17.0.0", a P1 port's power limit) so that 0-0:1.0.0 (clock) never collides
    with an electricity register. A P1 sub-meter's reading has a key of its own
    (sub_meter_key).
    """
    if obis.a == 1:
        return f"{obis.c}.{obis.d}.{obis.e}"
    return f"{obis.a}-{obis.c}.{obis.d}.{obis.e}"


def captured_key(obis: Obis) -> str:
    """The key of the time a value was measured at, when the meter sends one.

    The Belgian month peak 1-0:1.6.0 comes with the moment it was reached:
    "1.6.0_time" beside "1.6.0".
    """
    return f"{entity_key(obis)}{CAPTURED_SUFFIX}"


def sub_meter_key(medium: str, channel: int) -> str:
    """The key of a P1 sub-meter's reading: "gas_1" for the gas meter on M-Bus channel 1.

    Not entity_key: gas on 0-1:24.2.1 and water on 0-2:24.2.1 differ only in B, and
    what the channel holds comes from its device type, not from the OBIS code.
    """
    return f"{medium}_{channel}"


def reading_keys(reading: Reading) -> set[str]:
    """The key of every value `reading` carries, as the hub files them."""
    sub_meter_keys = {
        sub_meter.register: sub_meter_key(sub_meter.medium, sub_meter.channel)
        for sub_meter in reading.sub_meters
        if sub_meter.medium is not None
    }
    keys = {sub_meter_keys.get(obis) or entity_key(obis) for obis in reading.values}
    return keys | {captured_key(obis) for obis in _value_times(reading)}


def _value_times(reading: Reading) -> dict[Obis, datetime]:
    """The times of measurement a reading carries beside its values, but a sub-meter's.

    A sub-meter's reading time is its own device's business (SubMeter.captured).
    """
    if not isinstance(reading, P1Reading) or not reading.captured:
        return {}
    registers = {sub_meter.register for sub_meter in reading.sub_meters}
    return {obis: when for obis, when in reading.captured.items() if obis not in registers}


class RecentBytes:
    """The last bytes read from the port as one window, for diagnostics.

    A 2400-baud USB adapter returns about 20 bytes a read, so a meter id is often
    split over two reads: diagnostics redact the joined window, never read by read.
    Appending costs O(len(chunk)): small reads are gathered into pieces of about
    PIECE bytes and whole pieces fall off the front; joining and cutting to `size`
    happen only when diagnostics are downloaded.
    """

    PIECE: Final = 256

    def __init__(self, size: int) -> None:
        self.size = size
        self.received = 0
        self.chunk_sizes: deque[int] = deque(maxlen=LAST_CHUNKS)
        self._pieces: deque[bytes | bytearray] = deque()
        self._held = 0

    def append(self, chunk: bytes) -> None:
        """Keep `chunk` at the end of the window."""
        length = len(chunk)
        self.received += length
        self.chunk_sizes.append(length)
        pieces = self._pieces
        if length >= self.PIECE:
            # A 64 KiB read from a network bridge: only its end can be in the window.
            piece = chunk[-self.size :]
            pieces.append(piece)
            self._held += len(piece)
        else:
            last = pieces[-1] if pieces else None
            if isinstance(last, bytearray) and len(last) < self.PIECE:
                last += chunk
            else:
                pieces.append(bytearray(chunk))
            self._held += length
        while self._held - len(pieces[0]) >= self.size:
            self._held -= len(pieces.popleft())

    def window(self) -> bytes:
        """The last `size` bytes received (all of them until that many arrived)."""
        return b"".join(self._pieces)[-self.size :]

    @property
    def cut(self) -> bool:
        """Whether bytes before the window were dropped (its first line may be partial)."""
        return self.received > self.size


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """What the meter says about itself (each field may be missing from a list)."""

    meter_id: str | None = None
    meter_type: str | None = None
    manufacturer: str | None = None
    list_version: str | None = None

    def merge(self, reading: Reading) -> MeterIdentity:
        """This identity updated with the fields `reading` carries."""
        return MeterIdentity(
            reading.meter_id or self.meter_id,
            reading.meter_type or self.meter_type,
            reading.manufacturer or self.manufacturer,
            reading.list_version or self.list_version,
        )


class MeterHub:
    """Decodes the stream and tells entities what changed."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        device: str,
        options: DecoderOptions,
        identity: MeterIdentity,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.device = device
        self.decoder = StreamDecoder(options)
        self.identity = identity
        self.session = ListenSession(SESSION_TIMES)
        self.connected = False
        self.values: dict[str, Measurement] = {}
        self.seen: set[str] = set(entry.data.get(CONF_SEEN_OBIS, ()))
        # Equipment id per M-Bus channel (None: the channel sends none), as last seen.
        self.sub_meter_ids: dict[int, str | None] = {
            int(channel): equipment_id
            for channel, equipment_id in entry.data.get(CONF_SUB_METERS, {}).items()
        }
        self.last_readings: deque[Reading] = deque(maxlen=LAST_READINGS)
        self.last_bytes = RecentBytes(LAST_BYTES)
        self.last_errors: deque[FrameError] = deque(maxlen=LAST_ERRORS)
        self._value_listeners: dict[str, list[ValueListener]] = {}
        self._reading_listeners: list[ReadingListener] = []
        self._availability_listeners: list[CALLBACK_TYPE] = []
        self._new_key_listeners: list[Callable[[list[str]], None]] = []
        self._keys_by_obis: dict[Obis, str] = {}
        self._watchdog: asyncio.TimerHandle | None = None
        self._issues: set[str] = set()
        # Readings from another meter on the same port or bus (a shared M-Bus, a
        # bridge moved to the neighbour's meter): counted, never shown.
        self.foreign_readings = 0
        self.foreign_ids: deque[bytes] = deque(maxlen=FOREIGN_IDS)
        title = entry.data.get(CONF_SYSTEM_TITLE)
        self.meter_filter = MeterFilter(entry.unique_id, bytes.fromhex(title) if title else None)

    # ---- listeners -------------------------------------------------------------

    @callback
    def async_add_value_listener(self, key: str, listener: ValueListener) -> CALLBACK_TYPE:
        """Call `listener(measurement, monotonic_now)` whenever `key` arrives."""
        listeners = self._value_listeners.setdefault(key, [])
        listeners.append(listener)
        return lambda: listeners.remove(listener)

    @callback
    def async_add_reading_listener(self, listener: ReadingListener) -> CALLBACK_TYPE:
        """Call `listener(reading)` for every reading of the entry's meter, after the values.

        For what needs a whole message at once (the meter's timestamp with its registers).
        """
        self._reading_listeners.append(listener)
        return lambda: self._reading_listeners.remove(listener)

    @callback
    def async_add_availability_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener()` when the hub becomes available or unavailable."""
        self._availability_listeners.append(listener)
        return lambda: self._availability_listeners.remove(listener)

    @callback
    def async_add_new_key_listener(self, listener: Callable[[list[str]], None]) -> CALLBACK_TYPE:
        """Call `listener(keys)` when the meter sends keys it never sent before."""
        self._new_key_listeners.append(listener)
        return lambda: self._new_key_listeners.remove(listener)

    # ---- input from the reader ---------------------------------------------------

    @callback
    def feed(self, chunk: bytes) -> None:
        """Decode a chunk and dispatch what it completed."""
        self.last_bytes.append(chunk)
        self.handle_events(self.decoder.feed(chunk), monotonic())

    @callback
    def feed_apdu(self, apdu: bytes) -> None:
        """Decode an APDU that came without a frame (an MQTT bridge) and dispatch it."""
        self.last_bytes.append(apdu)
        self.handle_events(self.decoder.feed_apdu(apdu), monotonic())

    @callback
    def handle_events(self, events: Iterable[Event], now: float) -> None:
        """Dispatch decoder events (`now`: monotonic seconds when they arrived)."""
        got_reading = False
        for event in events:
            if isinstance(event, Reading):
                # Another meter's reading is a valid frame too: the adapter and the
                # line settings are right, whatever the meter (a neighbour, a new one).
                got_reading = True
                self.session.valid_frame()
                if not self._is_foreign(event, now):
                    self._on_reading(event, now)
            else:
                self.last_errors.append(event)
                self._apply(self.session.frame_error(event.reason, now))
        if not got_reading:
            self._apply(self.session.no_reading(now))

    @callback
    def set_connected(self, connected: bool, reason: str | None) -> None:
        """The reader opened or lost the port."""
        self.connected = connected
        if connected:
            return
        # A frame cut in half by the outage is reported, not glued to the next one.
        self._drop_partial_frame()
        self._apply(self.session.disconnected(reason))

    @property
    def available(self) -> bool:
        """Whether the meter is being heard (its sensors show values)."""
        return self.session.available

    # ---- readings ----------------------------------------------------------------

    def _is_foreign(self, reading: Reading, now: float) -> bool:
        """Whether `reading` comes from a meter other than the entry's (then counted).

        MeterFilter decides; a meter that has replaced ours raises a repair issue
        that offers to adopt it, and our meter identified again withdraws it.
        """
        meter_id = reading.meter_id
        title = reading.system_title
        attribution = self.meter_filter.attribute(meter_id, title, now)
        if attribution.learnt_title is not None:
            self._remember_system_title(attribution.learnt_title)
        if attribution.own:
            if attribution.identified and ISSUE_METER_REPLACED in self._issues:
                self._clear_issues({ISSUE_METER_REPLACED})
            return False
        self.foreign_readings += 1
        for secret in (meter_id.encode() if meter_id else None, title):
            if secret and secret not in self.foreign_ids:
                self.foreign_ids.append(secret)
        if LOGGER.isEnabledFor(logging.DEBUG):
            # Neither id is logged: both identify a household's supply point.
            LOGGER.debug(
                "Ignored a reading from another meter on %s (%d so far): its %s does not match",
                self.device,
                self.foreign_readings,
                attribution.mismatch,
            )
        if (
            ISSUE_METER_REPLACED not in self._issues
            and (replacement := self.meter_filter.replacement(now)) is not None
            # Its own reading: the type and maker below are the new meter's.
            and replacement.meter_id == meter_id
        ):
            self._raise_issue(
                ISSUE_METER_REPLACED,
                fixable=True,
                data={
                    "entry_id": self.entry.entry_id,
                    "meter_id": replacement.meter_id,
                    "system_title": (
                        replacement.system_title.hex().upper() if replacement.system_title else None
                    ),
                    "meter_type": reading.meter_type,
                    "manufacturer": reading.manufacturer,
                    "list_version": reading.list_version,
                },
            )
        return True

    def _remember_system_title(self, title: bytes) -> None:
        self.hass.config_entries.async_update_entry(
            self.entry, data={**self.entry.data, CONF_SYSTEM_TITLE: title.hex().upper()}
        )

    def _on_reading(self, reading: Reading, now: float) -> None:
        self.last_readings.append(reading)
        # A replaced meter's issue is not the session's: a reading naming no meter
        # (Aidon list 1) may come from the new one; only ours identified withdraws it.
        verdict = self.session.reading(now)
        self._apply_troubles(verdict)
        if (
            reading.meter_id or reading.meter_type or reading.manufacturer or reading.list_version
        ) and (identity := self.identity.merge(reading)) != self.identity:
            self._update_identity(identity)

        new_keys: list[str] | None = None
        sub_meter_keys = self._sub_meter_keys(reading.sub_meters) if reading.sub_meters else None
        keys_by_obis = self._keys_by_obis
        listeners = self._value_listeners
        values = self.values
        for obis, measurement in reading.values.items():
            key = sub_meter_keys.get(obis) if sub_meter_keys else None
            if key is None:
                key = keys_by_obis.get(obis)
            if key is None:
                key = keys_by_obis[obis] = entity_key(obis)
            values[key] = measurement
            if key not in self.seen:
                new_keys = [*(new_keys or ()), key]
            for listener in listeners.get(key, ()):
                listener(measurement, now)
        extras: list[tuple[str, str | datetime | None]] = [
            (KEY_METER_ID, reading.meter_id),
            (KEY_LIST_VERSION, reading.list_version),
        ]
        if isinstance(reading, P1Reading):
            extras += ((captured_key(obis), when) for obis, when in _value_times(reading).items())
        for key, extra in extras:
            if extra is None:
                continue
            measurement = Measurement(extra)
            values[key] = measurement
            if key not in self.seen:
                new_keys = [*(new_keys or ()), key]
            for listener in listeners.get(key, ()):
                listener(measurement, now)

        if new_keys:
            self._remember_keys(new_keys)
        for reading_listener in self._reading_listeners:
            reading_listener(reading)
        # After the values: an entity coming back shows this reading's value at once.
        self._apply_availability(verdict)

    def _sub_meter_keys(self, sub_meters: Iterable[SubMeter]) -> dict[Obis, str]:
        """The key of each sub-meter reading, after learning who is on each channel."""
        keys: dict[Obis, str] = {}
        for sub_meter in sub_meters:
            if sub_meter.medium is None:
                continue
            keys[sub_meter.register] = sub_meter_key(sub_meter.medium, sub_meter.channel)
            channel = sub_meter.channel
            # A telegram without the id line says nothing about who is there.
            if channel not in self.sub_meter_ids or (
                sub_meter.equipment_id is not None
                and sub_meter.equipment_id != self.sub_meter_ids[channel]
            ):
                self._learn_sub_meter(channel, sub_meter.equipment_id)
        return keys

    def _learn_sub_meter(self, channel: int, equipment_id: str | None) -> None:
        """Remember the channel's meter; its device, if it has one, is now known by this id.

        The device is re-identified rather than replaced, so the sub-meter's sensors
        (and their history) stay where they are: after an upgrade from a version that
        did not know the id, and when the grid company swaps the gas meter.
        """
        previous = self.sub_meter_ids.get(channel)
        before = sub_meter_identifier(self.entry, channel, previous)
        self.sub_meter_ids[channel] = equipment_id
        self.hass.config_entries.async_update_entry(
            self.entry,
            data={
                **self.entry.data,
                CONF_SUB_METERS: {
                    str(number): meter_id for number, meter_id in sorted(self.sub_meter_ids.items())
                },
            },
        )
        after = sub_meter_identifier(self.entry, channel, equipment_id)
        registry = dr.async_get(self.hass)
        device = registry.async_get_device_by_identifier((DOMAIN, before), self.entry.entry_id)
        if device is None or after == before:
            return
        if registry.async_get_device_by_identifier((DOMAIN, after), self.entry.entry_id):
            # The meter already has a device (moved from another channel): its
            # sensors join it on the next start.
            return
        if previous is not None:
            LOGGER.info(
                "The meter on M-Bus channel %d of %s was replaced (its equipment id changed);"
                " its sensors now show the new meter",
                channel,
                self.device,
            )
        registry.async_update_device(
            device.id, new_identifiers={(DOMAIN, after)}, serial_number=equipment_id
        )

    def _remember_keys(self, keys: list[str]) -> None:
        """Persist keys so their entities exist right after the next restart."""
        self.seen.update(keys)
        self.hass.config_entries.async_update_entry(
            self.entry, data={**self.entry.data, CONF_SEEN_OBIS: sorted(self.seen)}
        )
        for listener in list(self._new_key_listeners):
            listener(keys)

    def _update_identity(self, identity: MeterIdentity) -> None:
        """Keep the device registry in step (a firmware update changes the list version)."""
        self.identity = identity
        registry = dr.async_get(self.hass)
        device = registry.async_get_device_by_identifier(
            (DOMAIN, device_identifier(self.entry)), self.entry.entry_id
        )
        if device is not None:
            registry.async_update_device(
                device.id,
                manufacturer=identity.manufacturer,
                model=identity.meter_type,
                sw_version=identity.list_version,
            )

    # ---- availability --------------------------------------------------------------

    def _drop_partial_frame(self) -> None:
        """Report what the decoder holds as cut short; a reading in it is not used.

        flush() decodes a frame that lacks only its closing flag; after an outage
        that frame is stale and its time unknown, so it is not published.
        """
        for event in self.decoder.flush():
            if isinstance(event, FrameError):
                self.last_errors.append(event)

    @callback
    def _on_silence(self, timeout: float) -> None:
        self._watchdog = None
        # Half a frame and then silence this long (a stalled bridge or adapter) is a
        # broken frame: the rest arriving minutes later must not complete it.
        self._drop_partial_frame()
        self._apply(self.session.silence(timeout))

    # ---- applying the session's verdicts -------------------------------------------

    def _apply(self, verdict: Verdict) -> None:
        """Carry out what the session decided (troubles first, then availability)."""
        self._apply_troubles(verdict)
        self._apply_availability(verdict)

    def _apply_troubles(self, verdict: Verdict) -> None:
        for trouble in verdict.begun:
            if (issue := TROUBLE_ISSUES.get(trouble)) is not None:
                self._raise_issue(issue)
        if ended := {TROUBLE_ISSUES[t] for t in verdict.ended if t in TROUBLE_ISSUES}:
            self._clear_issues(ended & self._issues)

    def _apply_availability(self, verdict: Verdict) -> None:
        if (verdict.available is False or verdict.watchdog is not None) and self._watchdog:
            self._watchdog.cancel()
            self._watchdog = None
        if (timeout := verdict.watchdog) is not None:
            self._watchdog = self.hass.loop.call_later(timeout, self._on_silence, timeout)
        if verdict.outage is not None:
            LOGGER.warning(
                "No data from the meter on %s: %s; its sensors are unavailable until it returns",
                self.device,
                verdict.outage,
            )
        if verdict.back:
            LOGGER.info("Receiving data from the meter on %s again", self.device)
        if verdict.available is not None:
            for notify in list(self._availability_listeners):
                notify()

    def _raise_issue(
        self,
        issue: str,
        *,
        fixable: bool = False,
        data: dict[str, str | int | float | None] | None = None,
    ) -> None:
        if issue in self._issues:
            return
        self._issues.add(issue)
        LOGGER.debug("Raising repair issue %s for %s", issue, self.device)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{issue}_{self.entry.entry_id}",
            is_fixable=fixable,
            severity=ir.IssueSeverity.ERROR,
            translation_key=issue,
            translation_placeholders={"title": self.entry.title, "device": self.device},
            data=data,
        )

    def _clear_issues(self, issues: set[str] | None = None) -> None:
        for issue in set(self._issues) if issues is None else issues:
            ir.async_delete_issue(self.hass, DOMAIN, f"{issue}_{self.entry.entry_id}")
            self._issues.discard(issue)

    @callback
    def async_shutdown(self) -> None:
        """Stop the watchdog and withdraw repair issues (the entry is unloading)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._clear_issues()


def device_identifier(entry: ConfigEntry) -> str:
    """The meter id when the meter sends one, else the entry id (Swedish P1 ports)."""
    return entry.unique_id or entry.entry_id


def sub_meter_identifier(entry: ConfigEntry, channel: int, equipment_id: str | None) -> str:
    """A sub-meter's device: its equipment id, else the electricity meter's and the channel."""
    return equipment_id or f"{device_identifier(entry)}_mbus{channel}"


def entry_source_name(entry: ConfigEntry) -> str:
    """The port or bridge an entry reads, or "mqtt:<topic>" for an MQTT entry (logs, repairs)."""
    if entry.data.get(CONF_SOURCE) == SOURCE_MQTT:
        return source_name(entry.data[CONF_TOPIC])
    device: str = entry.data[CONF_DEVICE]
    return device
