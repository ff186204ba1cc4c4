"""Listening for a meter: bounded sessions on a real pty or a serial proxy."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
import logging
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

from custom_components.han_port import detect
from custom_components.han_port.detect import (
    DetectionError,
    Heard,
    HeardVerdict,
    decode_captured,
    detect_meter,
    listen,
)
from custom_components.han_port.han import DecoderOptions, StreamDecoder
from custom_components.han_port.mqtt_source import MqttHeard
from custom_components.han_port.port import LineSettings
from custom_components.han_port.reader import LINE_SETTINGS_TO_TRY
from devtools.corpus import capture, expected

from .conftest import (
    AIDON_LIST1,
    AIDON_LIST2,
    ENCRYPTED,
    ENCRYPTED_KEY,
    KAMSTRUP_LIST1,
    P1_NL,
    without_crc,
)
from .pty_meter import PtyMeter
from .serial_proxy import (
    ClosingProxyTransport,
    ForwardingProxyTransport,
    Line,
    ProxyTransport,
    SerialProxy,
)

pytestmark = pytest.mark.usefixtures("integration")

SETTINGS = LineSettings(2400, "N")


# A listening session on a port and on an MQTT topic.
VERDICTS = pytest.mark.parametrize(
    "make", [partial(Heard, SETTINGS), partial(MqttHeard, "han/meter")], ids=["port", "topic"]
)


@VERDICTS
async def test_a_verdict_keeps_the_reading_that_names_the_meter(
    make: Callable[[], HeardVerdict],
) -> None:
    """A port and a topic judge the decoder's events alike: Aidon's list 1 (no meter
    id) is kept until list 2 names the meter, and list 2 is not given up for the next
    list 1."""
    verdict = make()
    decoder = StreamDecoder()
    list1 = decoder.feed(capture(AIDON_LIST1))
    list2 = decoder.feed(capture(AIDON_LIST2))

    verdict.note(list1)
    assert verdict.reading is list1[0]
    assert verdict.valid
    assert not verdict.identified
    verdict.note(list2)
    assert verdict.reading is list2[0]
    assert verdict.identified
    verdict.note(list1)
    assert verdict.reading is list2[0]
    assert not verdict.encrypted
    assert not verdict.decrypt_failed


@VERDICTS
async def test_a_verdict_tells_a_missing_key_from_a_wrong_one(
    make: Callable[[], HeardVerdict],
) -> None:
    """Encrypted frames without a key, then with a wrong one: both are a valid stream."""
    verdict = make()
    verdict.note(StreamDecoder().feed(capture(ENCRYPTED)))
    assert verdict.encrypted
    assert not verdict.decrypt_failed
    assert verdict.identified
    wrong_key = DecoderOptions(key=bytes(16))
    verdict.note(StreamDecoder(wrong_key).feed(capture(ENCRYPTED)))
    assert verdict.decrypt_failed
    assert verdict.reading is None
    assert verdict.valid


async def test_garbage_ends_a_session_early(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A wrong setting is given up on after enough bytes, not after the full window."""
    meter.start([], garbage_unless=lambda baudrate: False)
    with patch.object(detect, "GARBAGE_LIMIT", 200):
        heard = await listen(meter.path, SETTINGS, DecoderOptions(), seconds=30)
    assert not heard.valid
    assert 200 < heard.bytes_in < 2000


async def test_capture_keeps_the_tail(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The bytes kept for a key check are bounded; the newest are kept."""
    meter.start([capture(ENCRYPTED)])
    heard = await detect_meter(meter.path, DecoderOptions(), candidates=(SETTINGS,))
    assert heard.encrypted
    key = DecoderOptions(key=bytes.fromhex(ENCRYPTED_KEY))
    assert decode_captured(bytes(heard.captured), SETTINGS, key).reading is not None

    with patch.object(detect, "CAPTURE_LIMIT", 150):
        heard = await detect_meter(meter.path, DecoderOptions(), candidates=(SETTINGS,))
    assert heard.encrypted
    assert len(heard.captured) == 150
    assert bytes(heard.captured) in capture(ENCRYPTED) * 3


async def test_detect_without_progress_callback(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The progress callback is optional."""
    meter.start([capture(KAMSTRUP_LIST1)])
    heard = await detect_meter(meter.path, DecoderOptions(), candidates=(SETTINGS,))
    assert heard.reading is not None
    assert heard.settings == SETTINGS


@pytest.mark.parametrize(
    "transport_cls", [ProxyTransport, ClosingProxyTransport, ForwardingProxyTransport]
)
async def test_listening_on_a_serial_proxy(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, transport_cls: type[ProxyTransport]
) -> None:
    """An ESPHome serial proxy port (no pause_reading): 2400 8E1 asked for and heard."""
    async with SerialProxy(Line(2400, "E"), transport_cls) as proxy:
        proxy.start([capture(KAMSTRUP_LIST1)])
        heard = await detect_meter(proxy.url, DecoderOptions())
    assert heard.settings == LineSettings(2400, "E")
    assert heard.reading is not None
    assert heard.reading.meter_id == expected(KAMSTRUP_LIST1)["meter_id"]
    assert proxy.opened == ["2400 8E1"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_7e1_is_tried_after_every_8_bit_setting(hass: HomeAssistant) -> None:
    """A DSMR 2.2/3 P1 port (9600 7E1): garbled under 8-bit settings, decoded under 7E1.

    Read as 9600 8N1 the same characters arrive with their parity bit in bit 7; that
    is not taken for a telegram either.
    """
    async with SerialProxy(Line(9600, "E", 7)) as proxy:
        proxy.start([without_crc(capture(P1_NL))])
        heard = await detect_meter(proxy.url, DecoderOptions())
    assert proxy.opened == [str(settings) for settings in LINE_SETTINGS_TO_TRY]
    assert proxy.opened[-3:] == ["115200 8N1", "9600 8E1", "9600 7E1"]
    assert heard.settings == LineSettings(9600, "E", 7)
    assert str(heard.settings) == "9600 7E1"
    assert heard.reading is not None
    assert heard.reading.transport == "p1"
    # The corpus lists what has a unit; the gas meter's equipment id comes on top.
    values = {str(obis): m.value for obis, m in heard.reading.values.items() if m.unit}
    assert values == expected(P1_NL)["values"]


async def test_settings_the_adapter_refuses_are_skipped(
    hass: HomeAssistant, meter: PtyMeter
) -> None:
    """Settings the adapter refuses are skipped, the next ones tried; all refused: no port.

    A pty stands in for an adapter without 7 data bits or parity: asked for them at
    the speed it already runs at, it keeps 8N1 and tcsetattr fails with EINVAL.
    """
    meter.start([capture(KAMSTRUP_LIST1)], garbage_unless=lambda baudrate: baudrate == 2400)
    candidates = (LineSettings(9600, "N"), LineSettings(9600, "E", 7), LineSettings(2400, "N"))
    heard = await detect_meter(meter.path, DecoderOptions(), candidates=candidates)
    assert heard.settings == LineSettings(2400, "N")
    assert heard.reading is not None

    with pytest.raises(DetectionError) as raised:
        await detect_meter(meter.path, DecoderOptions(), candidates=(LineSettings(2400, "E", 7),))
    assert raised.value.reason == "cannot_connect"
