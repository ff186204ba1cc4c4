"""Constants shared by the HAN Port integration's modules."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "han_port"
LOGGER: Final = logging.getLogger(__package__)

# Config entry data. "device" is the key HA's usb integration looks for when it
# attributes a serial port to the integration using it.
CONF_DEVICE: Final = "device"
# Where the frames come from: a serial port or bridge ("device"; entries without
# this key) or an MQTT topic through Home Assistant's mqtt integration.
CONF_SOURCE: Final = "source"
SOURCE_MQTT: Final = "mqtt"
CONF_TOPIC: Final = "topic"
CONF_BAUDRATE: Final = "baudrate"
CONF_PARITY: Final = "parity"
# Data bits; entries made before 7E1 was detected have no such key and mean 8.
CONF_BYTE_SIZE: Final = "byte_size"
DEFAULT_BYTE_SIZE: Final = 8
CONF_TRANSPORT: Final = "transport"
CONF_KEY: Final = "key"
CONF_AUTH_KEY: Final = "auth_key"
CONF_SEEN_OBIS: Final = "seen_obis"
# Equipment id of the meter on each M-Bus channel of a P1 port ({"1": "4730…"}, None
# when the channel sends none): the gas or water meter's device is known by it.
CONF_SUB_METERS: Final = "sub_meters"
# The first encrypted reading's system title: frames from another meter on the
# same port (a neighbour's, on a shared M-Bus) must not mix into this one's sensors.
CONF_SYSTEM_TITLE: Final = "system_title"
# What the meter said about itself when the entry was made (the device shows it
# before the meter repeats it).
CONF_METER_TYPE: Final = "meter_type"
CONF_MANUFACTURER: Final = "manufacturer"
CONF_LIST_VERSION: Final = "list_version"

# Options.
CONF_POWER_INTERVAL: Final = "power_interval"
CONF_MEASUREMENT_INTERVAL: Final = "measurement_interval"
CONF_SCALE: Final = "scale"
# Price sensors (currency/kWh or currency/MWh) whose recorded states price each
# hour of the hourly energy statistics (hourly.py).
CONF_IMPORT_PRICE: Final = "import_price_entity"
CONF_EXPORT_PRICE: Final = "export_price_entity"

# The capacity tariff (tariff.py), kept flat in the options; the options form shows
# them in a section of their own.
OPTIONS_SECTION_CAPACITY: Final = "capacity"
CONF_CAPACITY_TARIFF: Final = "capacity_tariff"
CONF_CAPACITY_LADDER: Final = "capacity_ladder"
CONF_CAPACITY_PEAKS: Final = "capacity_peaks"
CONF_CAPACITY_METHOD: Final = "capacity_method"
# The most peaks a grid company could average: a form field's upper bound.
MAX_CAPACITY_PEAKS: Final = 10
# The metering interval the tariff is computed on. Norwegian meters register hourly
# today; the accounting takes the interval as a parameter, so 15-minute values only
# need rows of that length, not a new design.
CAPACITY_INTERVAL: Final = timedelta(minutes=60)

# Defaults chosen for the recorder budget of an Aidon stream (list 1 every 2.5 s,
# list 2 every 10 s, list 3 hourly), see sensor.py for the arithmetic: active power
# written at most every 5 s, the other fast-changing values at most once a minute.
DEFAULT_POWER_INTERVAL: Final = 5.0
DEFAULT_MEASUREMENT_INTERVAL: Final = 60.0
DEFAULT_SCALE: Final = 1.0

# Repair issue ids (suffixed with the entry id).
ISSUE_NO_VALID_FRAMES: Final = "no_valid_frames"
ISSUE_DECRYPT_FAILING: Final = "decrypt_failing"
# Fixable: another meter has taken this one's place on the port (meter_filter.py).
ISSUE_METER_REPLACED: Final = "meter_replaced"
