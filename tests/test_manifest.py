"""What the manifest tells Home Assistant: which ports the port list marks as HAN Port's."""

from __future__ import annotations

import sys
import types
from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest

from custom_components.han_port.const import DOMAIN

from .conftest import make_entry

pytestmark = pytest.mark.usefixtures("integration")

PROXY_PORT = "esphome-hass://esphome/01JPROXYENTRY00000000000000?port_name=HAN"
USB_PORT = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"


async def test_the_port_list_names_han_port_as_the_user(hass: HomeAssistant) -> None:
    """HA's serial port list attributes a port only to integrations that (after-)depend on usb.

    The usb integration's own code decides (usb/consumers.py). Its package imports
    aiousbwatcher, a requirement of usb that nothing here needs, hence the stand-in.
    """
    watcher = types.ModuleType("aiousbwatcher")
    watcher.AIOUSBWatcher = object  # type: ignore[attr-defined]
    watcher.InotifyNotAvailableError = OSError  # type: ignore[attr-defined]
    with patch.dict(sys.modules, {"aiousbwatcher": watcher}):
        from homeassistant.components.usb.consumers import async_get_serial_port_consumers

    for device in (PROXY_PORT, USB_PORT):
        make_entry(device, unique_id=device).add_to_hass(hass)
    consumers = await async_get_serial_port_consumers(hass, [])
    assert {device: [c.domain for c in found] for device, found in consumers.items()} == {
        PROXY_PORT: [DOMAIN],
        USB_PORT: [DOMAIN],
    }
