"""The one base class every HAN Port entity derives from, and how its ids are made.

Entity unique ids are "<meter id>_<key>" and the device's identifier is the meter id
(the entry id for a meter that sends none; see hub.device_identifier). Deriving them
from the meter rather than from the config entry lets a meter that is removed and
added again find its old entities, ids and history. When the grid company replaces
the meter, async_adopt_meter rewrites them in the registries (and the entry's unique
id), so that the same entity ids and devices continue with the new meter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, override

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import (
    CONF_LIST_VERSION,
    CONF_MANUFACTURER,
    CONF_METER_TYPE,
    CONF_SYSTEM_TITLE,
    DOMAIN,
    LOGGER,
)
from .hub import MeterIdentity, device_identifier, entry_source_name, sub_meter_identifier

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from . import HanConfigEntry


def entity_unique_id(identifier: str, key: str) -> str:
    """The unique id of the entity for `key` of the meter `identifier`."""
    return f"{identifier}_{key}"


async def async_adopt_meter(
    hass: HomeAssistant,
    entry: ConfigEntry,
    meter_id: str,
    *,
    system_title: str | None,
    meter_type: str | None = None,
    manufacturer: str | None = None,
    list_version: str | None = None,
) -> None:
    """Make `entry` the entry of the meter `meter_id`, which replaced its own.

    Entity ids, names, settings and history stay: the entities' unique ids and the
    devices' identifiers (the meter's, and a P1 sub-meter's known by its channel)
    change, the meter's device takes the new serial number, and the entry the new
    meter id as its unique id. Its system title becomes the new meter's (or is learnt
    again from the first reading the new meter id vouches for). The caller reloads
    the entry; the energy registers then re-base (register.py) instead of jumping.
    """
    old = device_identifier(entry)
    prefix = entity_unique_id(old, "")

    @callback
    def move(registry_entry: er.RegistryEntry) -> dict[str, str] | None:
        if not registry_entry.unique_id.startswith(prefix):
            return None
        key = registry_entry.unique_id.removeprefix(prefix)
        return {"new_unique_id": entity_unique_id(meter_id, key)}

    await er.async_migrate_entries(hass, entry.entry_id, move)
    devices = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(devices, entry.entry_id):
        identifiers = {
            (domain, meter_id + identifier.removeprefix(old))
            if domain == DOMAIN and (identifier == old or identifier.startswith(prefix))
            else (domain, identifier)
            for domain, identifier in device.identifiers
        }
        if identifiers == device.identifiers:
            continue  # a sub-meter known by its own equipment id
        devices.async_update_device(
            device.id,
            new_identifiers=identifiers,
            serial_number=meter_id if (DOMAIN, old) in device.identifiers else device.serial_number,
        )
    data = {key: value for key, value in entry.data.items() if key != CONF_SYSTEM_TITLE}
    if system_title:
        data[CONF_SYSTEM_TITLE] = system_title
    data |= {
        key: value
        for key, value in (
            (CONF_METER_TYPE, meter_type),
            (CONF_MANUFACTURER, manufacturer),
            (CONF_LIST_VERSION, list_version),
        )
        if value is not None
    }
    hass.config_entries.async_update_entry(entry, unique_id=meter_id, data=data)
    # Neither meter id is logged: both identify a household's supply point.
    LOGGER.info(
        "%s on %s now reads the meter that replaced the old one; its sensors continue",
        entry.title,
        entry_source_name(entry),
    )


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
        self._attr_unique_id = entity_unique_id(identifier, description.key)
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
