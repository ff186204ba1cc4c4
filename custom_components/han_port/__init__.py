"""HAN Port: a smart meter's HAN/P1 port, read in real time, as Home Assistant sensors."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import entity_registry as er

from .const import (
    CONF_AUTH_KEY,
    CONF_BAUDRATE,
    CONF_BYTE_SIZE,
    CONF_KEY,
    CONF_LIST_VERSION,
    CONF_MANUFACTURER,
    CONF_METER_TYPE,
    CONF_PARITY,
    CONF_SEEN_OBIS,
    CONF_SOURCE,
    CONF_TOPIC,
    CONF_TRANSPORT,
    DEFAULT_BYTE_SIZE,
    DOMAIN,
    LOGGER,
    SOURCE_MQTT,
)
from .entity import async_register_meter_device
from .han import DecoderOptions, Transport
from .han.model import MEDIUM_GAS
from .hourly import HourlyStatistics, async_clear_statistics
from .hub import MeterHub, MeterIdentity, device_identifier, entry_source_name, sub_meter_key
from .mqtt_source import MqttSource
from .port import LineSettings
from .reader import MeterReader, PortError

PLATFORMS = [Platform.SENSOR]

# Up to entry version 1.1 every M-Bus channel of a P1 port had this one key, and only
# gas had a sensor for it.
_KEY_GAS_BEFORE_1_2 = "0-24.2.1"


@dataclass(slots=True)
class HanRuntimeData:
    """What a loaded entry holds: the hub entities listen to, the port reader (or the
    MQTT subscription), and the hourly statistics (None without a recorder)."""

    hub: MeterHub
    reader: MeterReader | MqttSource
    hourly: HourlyStatistics | None = None


type HanConfigEntry = ConfigEntry[HanRuntimeData]


def decoder_options(hass: HomeAssistant, data: dict[str, object]) -> DecoderOptions:
    """Decoder settings from entry data (keys are stored as hex)."""
    key = data.get(CONF_KEY)
    auth_key = data.get(CONF_AUTH_KEY)
    return DecoderOptions(
        transport=Transport(str(data.get(CONF_TRANSPORT) or Transport.AUTO)),
        key=bytes.fromhex(key) if isinstance(key, str) and key else None,
        auth_key=bytes.fromhex(auth_key) if isinstance(auth_key, str) and auth_key else None,
        # Kamstrup meters in Sweden send energy in Wh, elsewhere in 0.01 kWh, and the
        # frame does not say which; HA's configured country decides.
        country=hass.config.country,
    )


async def async_migrate_entry(hass: HomeAssistant, entry: HanConfigEntry) -> bool:
    """Bring an entry made by an earlier version up to date.

    Home Assistant itself refuses an entry of a later major version.
    """
    if entry.minor_version < 2:
        _migrate_gas_sensor(hass, entry)
    return True


def _migrate_gas_sensor(hass: HomeAssistant, entry: HanConfigEntry) -> None:
    """1.1 -> 1.2: the P1 gas sensor becomes the sensor of the gas meter on channel 1.

    DSMR puts the gas meter on channel 1. The sensor's registry entry keeps its entity
    id, and with it its history and its place in the Energy dashboard; it takes the
    new unique id here and moves to the gas meter's own device when it is added.
    """
    identifier = device_identifier(entry)
    new_key = sub_meter_key(MEDIUM_GAS, 1)
    registry = er.async_get(hass)
    old_entity_id = registry.async_get_entity_id(
        Platform.SENSOR, DOMAIN, f"{identifier}_{_KEY_GAS_BEFORE_1_2}"
    )
    new_unique_id = f"{identifier}_{new_key}"
    if (
        old_entity_id is not None
        and registry.async_get_entity_id(Platform.SENSOR, DOMAIN, new_unique_id) is None
    ):
        registry.async_update_entity(old_entity_id, new_unique_id=new_unique_id)
        LOGGER.debug("Moved %s to the gas meter on M-Bus channel 1", old_entity_id)
    seen = set(entry.data.get(CONF_SEEN_OBIS, ()))
    if _KEY_GAS_BEFORE_1_2 in seen:
        seen = (seen - {_KEY_GAS_BEFORE_1_2}) | {new_key}
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_SEEN_OBIS: sorted(seen)}, minor_version=2
    )


async def async_setup_entry(hass: HomeAssistant, entry: HanConfigEntry) -> bool:
    """Open the port, start reading, set up the sensors."""
    device: str = entry_source_name(entry)
    hub = MeterHub(
        hass,
        entry,
        device,
        decoder_options(hass, dict(entry.data)),
        MeterIdentity(
            meter_id=entry.unique_id,
            meter_type=entry.data.get(CONF_METER_TYPE),
            manufacturer=entry.data.get(CONF_MANUFACTURER),
            list_version=entry.data.get(CONF_LIST_VERSION),
        ),
    )
    reader: MeterReader | MqttSource
    if entry.data.get(CONF_SOURCE) == SOURCE_MQTT:
        reader = mqtt_source_for(hass, entry.data[CONF_TOPIC], hub)
    else:
        reader = MeterReader(
            device,
            LineSettings(
                entry.data[CONF_BAUDRATE],
                entry.data[CONF_PARITY],
                entry.data.get(CONF_BYTE_SIZE, DEFAULT_BYTE_SIZE),
            ),
            hub.feed,
            hub.set_connected,
        )
    try:
        await reader.async_open()
    except PortError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"device": device, "error": str(err)},
        ) from err
    entry.runtime_data = HanRuntimeData(hub, reader)
    entry.async_on_unload(hub.async_shutdown)
    async_register_meter_device(hass, entry, hub.identity)
    if "recorder" in hass.config.components:
        # The Energy dashboard's hourly statistics, booked in the hour the meter
        # measured them; without a recorder there is nowhere to keep them.
        hourly = entry.runtime_data.hourly = HourlyStatistics(hass, entry, hub)
        entry.async_on_unload(hourly.async_stop)
        await hourly.async_start()
    # Started before the platforms so that a failing platform setup still closes
    # the port: HA cancels an entry's background tasks when its setup fails.
    entry.async_create_background_task(hass, reader.run(), f"{DOMAIN} reader {device}")
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


def mqtt_source_for(hass: HomeAssistant, topic: str, hub: MeterHub) -> MqttSource:
    """The source for an MQTT entry: the hub's decoder behind HA's mqtt subscription."""
    return MqttSource(
        hass,
        topic,
        on_chunk=hub.feed,
        on_apdu=hub.feed_apdu,
        in_frame=lambda: hub.decoder.in_frame,
        on_connection=hub.set_connected,
    )


async def async_unload_entry(hass: HomeAssistant, entry: HanConfigEntry) -> bool:
    """Unload the sensors; the reader task is cancelled with the entry and closes the port."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: HanConfigEntry) -> None:
    """Delete the entry's hourly statistics with it (not on unload: a reload keeps them).

    Left behind, they would stay in the recorder and in the Energy dashboard's lists
    for good, under an id no entry has any more.
    """
    if "recorder" in hass.config.components:
        await async_clear_statistics(hass, entry)
