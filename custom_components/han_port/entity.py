"""The one base class every HAN Port entity derives from."""

from __future__ import annotations

from typing import TYPE_CHECKING, override

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .hub import device_identifier

if TYPE_CHECKING:
    from . import HanConfigEntry


class HanEntity(Entity):
    """An entity of one meter; available while the meter's data flows."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: HanConfigEntry, description: EntityDescription) -> None:
        self.entity_description = description
        self._hub = entry.runtime_data.hub
        identifier = device_identifier(entry)
        self._attr_unique_id = f"{identifier}_{description.key}"
        identity = self._hub.identity
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, identifier)},
            # Named after its maker ("Kamstrup"), so entity ids read
            # sensor.kamstrup_active_power_import; a translated generic name otherwise.
            name=identity.manufacturer,
            translation_key=None if identity.manufacturer else "electricity_meter",
            manufacturer=identity.manufacturer,
            model=identity.meter_type,
            serial_number=identity.meter_id,
            sw_version=identity.list_version,
        )

    @override
    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            self._hub.async_add_availability_listener(self._on_availability_changed)
        )

    @callback
    def _on_availability_changed(self) -> None:
        self.async_write_ha_state()

    @property
    @override
    def available(self) -> bool:
        return self._hub.available
