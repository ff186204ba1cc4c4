"""The one base class every HAN Port entity derives from."""

from __future__ import annotations

from typing import TYPE_CHECKING, override

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .hub import MeterIdentity, device_identifier, sub_meter_identifier

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from . import HanConfigEntry


def meter_device_info(entry: ConfigEntry, identity: MeterIdentity) -> DeviceInfo:
    """The electricity meter's device."""
    return DeviceInfo(
        identifiers={(DOMAIN, device_identifier(entry))},
        # Named after its maker ("Kamstrup"), so entity ids read
        # sensor.kamstrup_active_power_import; a translated generic name otherwise.
        name=identity.manufacturer,
        translation_key=None if identity.manufacturer else "electricity_meter",
        manufacturer=identity.manufacturer,
        model=identity.meter_type,
        serial_number=identity.meter_id,
        sw_version=identity.list_version,
    )


def async_register_meter_device(
    hass: HomeAssistant, entry: ConfigEntry, identity: MeterIdentity
) -> None:
    """Register the electricity meter's device before any entity.

    A sub-meter's device links to it by device id (via_device_id), so it must exist
    whatever order the sensors are added in.
    """
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **meter_device_info(entry, identity)
    )


class HanEntity(Entity):
    """An entity of one meter; available while the meter's data flows.

    An entity of a P1 sub-meter (`medium`, `channel`: the gas meter on M-Bus channel
    1) belongs to that meter's own device, which is reached through the electricity
    meter's.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self,
        entry: HanConfigEntry,
        description: EntityDescription,
        *,
        medium: str | None = None,
        channel: int | None = None,
    ) -> None:
        self.entity_description = description
        self._hub = entry.runtime_data.hub
        identifier = device_identifier(entry)
        self._attr_unique_id = f"{identifier}_{description.key}"
        if medium is None or channel is None:
            self._attr_device_info = meter_device_info(entry, self._hub.identity)
            return
        equipment_id = self._hub.sub_meter_ids.get(channel)
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, sub_meter_identifier(entry, channel, equipment_id))},
            translation_key=f"{medium}_meter",
            serial_number=equipment_id,
            via_device_id=dr.async_get_device_id_by_identifier(
                self._hub.hass, (DOMAIN, identifier), config_entry_id=entry.entry_id
            ),
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
