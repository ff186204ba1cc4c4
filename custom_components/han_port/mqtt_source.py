"""The MQTT side: a meter's frames that an ESP reader or bridge publishes to a topic.

Home Assistant's own mqtt integration holds the broker connection (no second
client here): it reconnects and subscribes again by itself. MqttSource has the
role MeterReader has for a serial port: it hands what arrives to the hub and
reports when the source comes and goes. Every message goes through
han.payload.PayloadReader, which finds the frame in whatever form the reader
publishes it; messages without one are counted and otherwise ignored, with one
debug line per kind.

homeassistant.components.mqtt is imported only once mqtt is set up: it needs
paho-mqtt, which an installation that reads a serial port may not have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import contextlib
from dataclasses import dataclass, field
import re
from typing import TYPE_CHECKING, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .const import LOGGER
from .detect import DetectionError, HeardVerdict
from .han import DecoderOptions, Event, StreamDecoder
from .han.payload import PayloadReader, Unwrapped
from .reader import PortError

if TYPE_CHECKING:
    from homeassistant.components.mqtt import ReceiveMessage

MQTT_DOMAIN: Final = "mqtt"

# How long the config flow listens on a topic for a first frame. Meters send every
# 2-10 s, and a bridge may publish only every few frames.
LISTEN_SECONDS: Final = 30.0
# After a valid frame without a meter id (Aidon and Kaifa list 1), how long to wait
# for the list that names the meter (list 2 comes every 10 s).
IDENTIFY_SECONDS: Final = 12.0
# Unwrapped bytes kept to check a key against without listening again.
CAPTURE_LIMIT: Final = 16384

# In a topic, what identifies a device or a household: a MAC address (with or
# without separators) or another long run of hex digits or digits (a Pulse id, a
# meter number). Pure letters (a word such as "facade") are left alone.
_TOPIC_IDS: Final = re.compile(
    r"(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}|(?=[0-9A-Fa-f]*\d)[0-9A-Fa-f]{6,}|\d{6,}"
)
REDACTED_ID: Final = "**REDACTED**"


def source_name(topic: str) -> str:
    """What logs and repair issues call an MQTT source."""
    return f"mqtt:{topic}"


def redact_topic(topic: str, secrets: Iterable[str] = ()) -> str:
    """`topic` with the ids it holds (MAC, device or meter number) cut out."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        topic = topic.replace(secret, REDACTED_ID)
    return _TOPIC_IDS.sub(REDACTED_ID, topic)


def mqtt_configured(hass: HomeAssistant) -> bool:
    """Whether Home Assistant's mqtt integration is set up (or has an enabled entry)."""
    return MQTT_DOMAIN in hass.config.components or bool(
        hass.config_entries.async_entries(MQTT_DOMAIN, include_ignore=False, include_disabled=False)
    )


async def async_mqtt_ready(hass: HomeAssistant) -> bool:
    """Wait (bounded, by mqtt's own timeout) until the mqtt client can subscribe."""
    if not mqtt_configured(hass):
        return False
    from homeassistant.components import mqtt  # noqa: PLC0415

    return await mqtt.async_wait_for_mqtt_client(hass)


def _payload(message: ReceiveMessage) -> bytes:
    payload = message.payload
    # Subscribed with encoding=None: bytes; a str would be another subscriber's setting.
    return payload if isinstance(payload, bytes) else str(payload).encode("utf-8")


class MqttSource:
    """Subscribes to one topic and feeds what its messages carry to the hub.

    `on_chunk` takes stream bytes, `on_apdu` a bare APDU, `in_frame` says whether
    the hub's decoder waits for the rest of a frame (a frame split over messages).
    `on_connection(connected, reason)` follows the broker connection.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        topic: str,
        *,
        on_chunk: Callable[[bytes], None],
        on_apdu: Callable[[bytes], None],
        in_frame: Callable[[], bool],
        on_connection: Callable[[bool, str | None], None],
    ) -> None:
        self.hass = hass
        self.topic = topic
        self.device = source_name(topic)
        self.payloads = PayloadReader()
        self._on_chunk = on_chunk
        self._on_apdu = on_apdu
        self._in_frame = in_frame
        self._on_connection = on_connection
        self._unsubscribe: CALLBACK_TYPE | None = None
        self._unsubscribe_status: CALLBACK_TYPE | None = None
        self._connected = False
        self.connects = 0
        self.disconnects = 0
        self.failed_opens = 0

    async def async_open(self) -> None:
        """Subscribe (setup calls this, so that missing mqtt makes setup retry)."""
        if not await async_mqtt_ready(self.hass):
            self.failed_opens += 1
            raise PortError("Home Assistant's MQTT integration is not set up or not loaded")
        from homeassistant.components import mqtt  # noqa: PLC0415

        try:
            self._unsubscribe = await mqtt.async_subscribe(
                self.hass, self.topic, self._on_message, encoding=None
            )
        except HomeAssistantError as err:
            self.failed_opens += 1
            raise PortError(str(err) or type(err).__name__) from err
        self._unsubscribe_status = mqtt.async_subscribe_connection_status(
            self.hass, self._on_status
        )
        # The subscription stands whether or not the broker is reachable right now:
        # the mqtt client subscribes again whenever it connects.
        self._set_connected(True, None)

    async def run(self) -> None:
        """Hold the subscription until cancelled (the entry unloads), then drop it."""
        try:
            await asyncio.Event().wait()
        finally:
            self.close()

    @callback
    def close(self) -> None:
        """Unsubscribe from the topic and from the connection state."""
        for unsubscribe in (self._unsubscribe, self._unsubscribe_status):
            if unsubscribe is not None:
                # The mqtt entry may have been unloaded first; its client is gone then.
                with contextlib.suppress(HomeAssistantError):
                    unsubscribe()
        self._unsubscribe = self._unsubscribe_status = None

    @callback
    def _on_status(self, connected: bool) -> None:
        self._set_connected(connected, None if connected else "the MQTT broker connection was lost")

    def _set_connected(self, connected: bool, reason: str | None) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        if connected:
            self.connects += 1
        else:
            self.disconnects += 1
        self._on_connection(connected, reason)

    @callback
    def _on_message(self, message: ReceiveMessage) -> None:
        result = self.payloads.unwrap(_payload(message), in_frame=self._in_frame())
        if result.apdu is not None:
            self._on_apdu(result.apdu)
        elif result.stream:
            self._on_chunk(result.stream)
        elif result.ignored is not None and self.payloads.ignored[result.ignored] == 1:
            # One line per kind, not per message: a bridge that publishes status
            # every few seconds must not fill the log.
            LOGGER.debug(
                "Ignoring messages on %s that carry no meter frame (%s); diagnostics count them",
                self.topic,
                result.ignored,
            )


# ---- listening, for the config flow -------------------------------------------------


class MqttDetectionError(DetectionError):
    """Listening on a topic found nothing usable; `ignored` says what came instead."""

    def __init__(self, reason: str, ignored: dict[str, int] | None = None) -> None:
        super().__init__(reason)
        self.ignored = ignored or {}


@dataclass(slots=True)
class MqttHeard(HeardVerdict):
    """What listening on a topic produced."""

    topic: str
    payloads: PayloadReader = field(default_factory=PayloadReader)
    captured: list[Unwrapped] = field(default_factory=list)
    captured_bytes: int = 0

    @property
    def form(self) -> str:
        """The payload form most messages used, as the confirm step shows it."""
        common = self.payloads.forms.most_common(1)
        return str(common[0][0]) if common else "-"

    def take(self, unwrapped: Unwrapped, events: list[Event]) -> None:
        size = len(unwrapped.stream) + len(unwrapped.apdu or b"")
        if size and self.captured_bytes + size <= CAPTURE_LIMIT:
            self.captured.append(unwrapped)
            self.captured_bytes += size
        self.note(events)

    def decode_again(self, options: DecoderOptions) -> MqttHeard:
        """What was heard, decoded again with other options (a key the user typed)."""
        decoder = StreamDecoder(options)
        heard = MqttHeard(self.topic, payloads=self.payloads)
        for unwrapped in self.captured:
            heard.take(unwrapped, _decode(decoder, unwrapped))
        heard.take(Unwrapped(), decoder.flush())
        return heard


def _decode(decoder: StreamDecoder, unwrapped: Unwrapped) -> list[Event]:
    if unwrapped.apdu is not None:
        return decoder.feed_apdu(unwrapped.apdu)
    return decoder.feed(unwrapped.stream)


async def listen_mqtt(
    hass: HomeAssistant, topic: str, options: DecoderOptions, seconds: float | None = None
) -> MqttHeard:
    """Listen on `topic` until the meter names itself or `seconds` (LISTEN_SECONDS) pass.

    Raises MqttDetectionError("mqtt_not_configured" | "mqtt_not_connected" |
    "mqtt_no_messages" | "mqtt_no_frames" | "mqtt_invalid_frames").
    """
    if not await async_mqtt_ready(hass):
        raise MqttDetectionError("mqtt_not_configured")
    from homeassistant.components import mqtt  # noqa: PLC0415

    if not mqtt.is_connected(hass):
        raise MqttDetectionError("mqtt_not_connected")
    decoder = StreamDecoder(options)
    heard = MqttHeard(topic)
    arrived = asyncio.Event()

    @callback
    def on_message(message: ReceiveMessage) -> None:
        unwrapped = heard.payloads.unwrap(_payload(message), in_frame=decoder.in_frame)
        heard.take(unwrapped, _decode(decoder, unwrapped))
        arrived.set()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + (LISTEN_SECONDS if seconds is None else seconds)
    identify_by: float | None = None
    unsubscribe = await mqtt.async_subscribe(hass, topic, on_message, encoding=None)
    try:
        while not heard.identified and (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    await arrived.wait()
            except TimeoutError:
                break
            arrived.clear()
            if heard.valid and identify_by is None:
                identify_by = loop.time() + IDENTIFY_SECONDS
                deadline = max(deadline, identify_by)
    finally:
        unsubscribe()
    if heard.valid:
        return heard
    payloads = heard.payloads
    if not payloads.messages:
        raise MqttDetectionError("mqtt_no_messages")
    # Most frequent first: what the reader mostly publishes on that topic.
    ignored = dict(payloads.ignored.most_common())
    if not payloads.forms:
        raise MqttDetectionError("mqtt_no_frames", ignored)
    raise MqttDetectionError("mqtt_invalid_frames", ignored)
