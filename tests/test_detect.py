"""Listening for a meter: bounded sessions on a real pty."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

from custom_components.han_port import detect
from custom_components.han_port.detect import decode_captured, detect_meter, listen
from custom_components.han_port.han import DecoderOptions
from custom_components.han_port.reader import LineSettings, line_settings_apply

from .conftest import ENCRYPTED, ENCRYPTED_KEY, KAMSTRUP_LIST1, frame
from .pty_meter import PtyMeter

pytestmark = pytest.mark.usefixtures("integration")

SETTINGS = LineSettings(2400, "N")


async def test_garbage_ends_a_session_early(hass: HomeAssistant, meter: PtyMeter) -> None:
    """A wrong setting is given up on after enough bytes, not after the full window."""
    meter.start([], garbage_unless=lambda baudrate: False)
    with patch.object(detect, "GARBAGE_LIMIT", 200):
        heard = await listen(meter.path, SETTINGS, DecoderOptions(), seconds=30)
    assert not heard.valid
    assert 200 < heard.bytes_in < 2000


async def test_capture_keeps_the_tail(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The bytes kept for a key check are bounded; the newest are kept."""
    meter.start([frame(ENCRYPTED)])
    heard = await detect_meter(meter.path, DecoderOptions(), candidates=(SETTINGS,))
    assert heard.encrypted
    key = DecoderOptions(key=bytes.fromhex(ENCRYPTED_KEY))
    assert decode_captured(bytes(heard.captured), SETTINGS, key).reading is not None

    with patch.object(detect, "CAPTURE_LIMIT", 150):
        heard = await detect_meter(meter.path, DecoderOptions(), candidates=(SETTINGS,))
    assert heard.encrypted
    assert len(heard.captured) == 150
    assert bytes(heard.captured) in frame(ENCRYPTED) * 3


async def test_detect_without_progress_callback(hass: HomeAssistant, meter: PtyMeter) -> None:
    """The progress callback is optional."""
    meter.start([frame(KAMSTRUP_LIST1)])
    heard = await detect_meter(meter.path, DecoderOptions(), candidates=(SETTINGS,))
    assert heard.reading is not None
    assert heard.settings == SETTINGS


def test_which_ports_take_line_settings() -> None:
    """Raw TCP streams do not; local ports, RFC 2217 and serial proxies do."""
    assert not line_settings_apply("socket://192.168.1.50:3000")
    assert not line_settings_apply("TCP://bridge:23")
    assert line_settings_apply("rfc2217://bridge:4000")
    assert line_settings_apply("esphome://han-reader.local")
    assert line_settings_apply("/dev/serial/by-id/usb-FTDI-if00-port0")
