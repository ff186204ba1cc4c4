"""Config flow: pick the port, listen for the meter, confirm what was found.

USB discovery (through HA's usb integration, part of default_config) matches only
adapters whose USB product string names what they are for: "*M-Bus*" / "*MBUS*"
(manifest.json "usb"). The usual HAN adapters built on generic CH340, CP210x or
FT232 chips report nothing that tells them apart from any other serial cable, so
they get no matcher and are picked from the port list instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import os
import re
from typing import Any, Final, override

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    SerialPortSelector,
    TextSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo
from homeassistant.helpers.typing import UNDEFINED, UndefinedType
import probatio

from . import decoder_options
from .accounting import price_factor_per_kwh
from .capacity import (
    DEFAULT_COUNT,
    DEFAULT_LADDER,
    LadderError,
    PeakMethod,
    format_ladder,
    parse_ladder,
)
from .const import (
    CONF_AUTH_KEY,
    CONF_BAUDRATE,
    CONF_BYTE_SIZE,
    CONF_CAPACITY_LADDER,
    CONF_CAPACITY_METHOD,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_TARIFF,
    CONF_DEVICE,
    CONF_EXPORT_PRICE,
    CONF_IMPORT_PRICE,
    CONF_KEY,
    CONF_LIST_VERSION,
    CONF_MANUFACTURER,
    CONF_MEASUREMENT_INTERVAL,
    CONF_METER_TYPE,
    CONF_PARITY,
    CONF_POWER_INTERVAL,
    CONF_SCALE,
    CONF_SEEN_OBIS,
    CONF_SOURCE,
    CONF_SUB_METERS,
    CONF_SYSTEM_TITLE,
    CONF_TOPIC,
    CONF_TRANSPORT,
    DEFAULT_MEASUREMENT_INTERVAL,
    DEFAULT_POWER_INTERVAL,
    DEFAULT_SCALE,
    DOMAIN,
    LOGGER,
    MAX_CAPACITY_PEAKS,
    OPTIONS_SECTION_CAPACITY,
    SOURCE_MQTT,
)
from .detect import DetectionError, Heard, HeardVerdict, decode_captured, detect_meter
from .entity import async_adopt_meter
from .han import Reading
from .han.model import Transport
from .hub import KEY_LIST_VERSION, KEY_METER_ID, reading_keys
from .mqtt_source import MqttDetectionError, MqttHeard, listen_mqtt, mqtt_configured
from .port import line_settings_apply

# An AES-128 key as the grid company hands it out: 32 hex digits; people paste it
# with spaces or dashes between groups, so those are dropped first.
_KEY_SEPARATORS: Final = re.compile(r"[\s:-]")
_KEY_FORMAT: Final = re.compile(r"[0-9a-fA-F]{32}")


SERIAL_BY_ID: Final = "/dev/serial/by-id"


def serial_by_id(device: str) -> str:
    """The stable /dev/serial/by-id link to `device`, or `device` when there is none.

    ttyUSB numbers change with the order adapters are found at boot; the by-id link
    (named after the adapter's vendor, product and serial number) does not. Blocking
    (it reads a directory): call it in the executor.
    """
    if not os.path.isdir(SERIAL_BY_ID):
        return device
    real = os.path.realpath(device)
    for link in os.scandir(SERIAL_BY_ID):
        if link.is_symlink() and os.path.realpath(link.path) == real:
            return link.path
    return device


def normalize_key(text: str) -> str | None:
    """The key as 32 upper-case hex digits, or None when it is not one."""
    key = _KEY_SEPARATORS.sub("", text)
    return key.upper() if _KEY_FORMAT.fullmatch(key) else None


class HanPortConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a meter: port, listen, (key), confirm."""

    VERSION = 1
    # 1.2: P1 sub-meters have a key per M-Bus channel (see async_migrate_entry).
    MINOR_VERSION = 2

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._heard: Heard | None = None
        self._listen_task: asyncio.Task[Heard] | None = None
        self._error: str | None = None
        self._mqtt_heard: MqttHeard | None = None
        self._mqtt_task: asyncio.Task[MqttHeard] | None = None
        self._placeholders: dict[str, str] = {}
        # Reconfiguring found another meter: its reading and the entry data to go on with.
        self._replacement: tuple[Reading, dict[str, Any]] | None = None

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> HanPortOptionsFlow:
        return HanPortOptionsFlow()

    # ---- where the port comes from -------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick a port from the list, type a path or a socket://host:port URL, or a topic."""
        if user_input is not None:
            if (mqtt := await self._async_topic_chosen(user_input)) is not None:
                return mqtt
            device = user_input[CONF_DEVICE].strip()
            self._async_abort_entries_match({CONF_DEVICE: device})
            self._data = {CONF_DEVICE: device}
            return await self.async_step_listen()
        return self._show_port_form("user")

    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        """An adapter that names itself as an M-Bus/HAN adapter was plugged in."""
        device = await self.hass.async_add_executor_job(serial_by_id, discovery_info.device)
        # The adapter's identity keeps one discovery per adapter (and lets the
        # user ignore it); the meter id replaces it once the meter has spoken.
        await self.async_set_unique_id(
            f"usb:{discovery_info.vid}:{discovery_info.pid}_{discovery_info.serial_number}"
        )
        self._abort_if_unique_id_configured()
        self._async_abort_entries_match({CONF_DEVICE: device})
        self._data = {CONF_DEVICE: device}
        self.context["title_placeholders"] = {
            "name": discovery_info.description or discovery_info.device
        }
        return await self.async_step_usb_confirm()

    async def async_step_usb_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask before listening on a discovered adapter."""
        if user_input is not None:
            return await self.async_step_listen()
        self._set_confirm_only()
        return self.async_show_form(
            step_id="usb_confirm",
            description_placeholders={"device": self._data[CONF_DEVICE]},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the meter to another port (or adapter); entities and history stay."""
        entry = self._get_reconfigure_entry()
        if entry.data.get(CONF_SOURCE) == SOURCE_MQTT:
            return await self.async_step_mqtt_reconfigure()
        if user_input is not None:
            self._data = {
                CONF_DEVICE: user_input[CONF_DEVICE].strip(),
                CONF_KEY: entry.data.get(CONF_KEY),
                CONF_AUTH_KEY: entry.data.get(CONF_AUTH_KEY),
            }
            return await self.async_step_listen()
        return self._show_port_form("reconfigure", entry.data[CONF_DEVICE])

    def _show_port_form(self, step_id: str, device: str | None = None) -> ConfigFlowResult:
        errors = {"base": self._error} if self._error else {}
        self._error = None
        schema = probatio.Schema({probatio.Required(CONF_DEVICE): SerialPortSelector()})
        if step_id == "user":
            schema = _USER_SCHEMA
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema,
                {
                    CONF_DEVICE: device or self._data.get(CONF_DEVICE),
                    CONF_TOPIC: self._data.get(CONF_TOPIC),
                },
            ),
            errors=errors,
            description_placeholders=self._take_placeholders(),
        )

    # ---- listening -------------------------------------------------------------------

    async def async_step_listen(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Listen under likely line settings until the meter speaks (bounded)."""
        if self._listen_task is None:
            self._listen_task = self.hass.async_create_task(
                detect_meter(
                    self._data[CONF_DEVICE],
                    decoder_options(self.hass, self._data),
                    self.async_update_progress,
                ),
                eager_start=False,
            )
        if not self._listen_task.done():
            return self._show_listening(
                "listen", self._listen_task, {"device": self._data[CONF_DEVICE]}
            )
        task, self._listen_task = self._listen_task, None
        self._heard = self._listening_result(task, self._data[CONF_DEVICE])
        return self._listening_done(self._heard, "reconfigure", "key", "confirm")

    def _show_listening(
        self, step_id: str, task: asyncio.Task[Any], placeholders: dict[str, str]
    ) -> ConfigFlowResult:
        """The progress form while `task` listens (its progress action is the step's)."""
        return self.async_show_progress(
            step_id=step_id,
            progress_action=step_id,
            progress_task=task,
            description_placeholders=placeholders,
        )

    def _listening_result[H: HeardVerdict](self, task: asyncio.Task[H], source: str) -> H | None:
        """What listening on `source` heard; None (and `_error` set) when it found nothing."""
        try:
            return task.result()
        except DetectionError as err:
            self._error = err.reason
            if isinstance(err, MqttDetectionError):
                ignored = ", ".join(f"{kind}: {count}" for kind, count in err.ignored.items())
                self._placeholders = {"topic": self._data[CONF_TOPIC], "ignored": ignored or "-"}
        except Exception:
            # A bug must not leave the user at a progress bar that never ends.
            LOGGER.exception("Unexpected error while listening on %s", source)
            self._error = "unknown"
        return None

    def _listening_done(
        self, heard: HeardVerdict | None, source_step: str, key_step: str, confirm_step: str
    ) -> ConfigFlowResult:
        """Where the flow goes once listening ended: back to where the port or topic
        was chosen after an error, to the key when the frames are encrypted, else to
        confirm."""
        if self._error is not None:
            return self.async_show_progress_done(
                next_step_id=source_step if self.source == SOURCE_RECONFIGURE else "user"
            )
        assert heard is not None
        if heard.reading is None:
            return self.async_show_progress_done(next_step_id=key_step)
        return self.async_show_progress_done(next_step_id=confirm_step)

    async def async_step_key(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The frames are encrypted: ask for the key and check it on what was heard."""
        assert self._heard is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            data, heard, errors = _try_keys(self._data, user_input, self._decode_with)
            if data is not None and heard is not None:
                self._data = data
                self._heard = heard
                return await self.async_step_confirm()
        return self._show_key_form(
            "key", self._heard, user_input, errors, {"device": self._data[CONF_DEVICE]}
        )

    def _show_key_form(
        self,
        step_id: str,
        heard: HeardVerdict,
        user_input: dict[str, Any] | None,
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> ConfigFlowResult:
        """The key form, for a port and for an MQTT topic alike."""
        if user_input is None and heard.decrypt_failed:
            # The stored key no longer works (reconfigure after a key change).
            errors = {"base": "invalid_key"}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(_KEY_SCHEMA, user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _decode_with(self, data: dict[str, Any]) -> Heard:
        """Decode what was heard again with the keys in `data`."""
        assert self._heard is not None
        return decode_captured(
            bytes(self._heard.captured), self._heard.settings, decoder_options(self.hass, data)
        )

    # ---- the result -----------------------------------------------------------------------

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show what was found; create (or, reconfiguring, update) the entry."""
        heard, reading = await self._identify(self._heard)
        if (
            self.source == SOURCE_RECONFIGURE
            and reading.meter_id is not None
            and reading.meter_id != self._get_reconfigure_entry().unique_id
        ):
            self._replacement = (reading, self._heard_data())
            return await self.async_step_replace_meter()
        if user_input is None:
            return self.async_show_form(
                step_id="confirm",
                description_placeholders={
                    **_meter_placeholders(reading),
                    # A raw TCP bridge sets the UART itself; ours would mislead.
                    "settings": str(heard.settings)
                    if line_settings_apply(self._data[CONF_DEVICE])
                    else "-",
                },
            )
        return self._save_meter(reading, self._heard_data())

    async def _identify[H: HeardVerdict](self, heard: H | None) -> tuple[H, Reading]:
        """What was heard and its reading. From here on the flow is known by the meter id:
        adding a meter that already has an entry ends here (reconfiguring decides itself)."""
        assert heard is not None
        assert heard.reading is not None
        await self.async_set_unique_id(heard.reading.meter_id, raise_on_progress=False)
        if self.source != SOURCE_RECONFIGURE and heard.reading.meter_id is not None:
            self._abort_if_unique_id_configured()
        return heard, heard.reading

    async def async_step_replace_meter(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Reconfiguring found another meter: continue the entry with it (meter replaced).

        The grid company replaced the meter: the same entities, device and history go
        on with the new one (entity.async_adopt_meter). A meter that has an entry of
        its own is not taken over; cancelling leaves the entry as it was.
        """
        assert self._replacement is not None
        reading, data = self._replacement
        assert reading.meter_id is not None
        entry = self._get_reconfigure_entry()
        # The flow's unique id is the new meter's: another entry with it aborts here.
        self._abort_if_unique_id_configured()
        if user_input is None:
            return self.async_show_form(
                step_id="replace_meter",
                description_placeholders={
                    "title": entry.title,
                    "device": self._data.get(CONF_DEVICE) or f"MQTT {self._data[CONF_TOPIC]}",
                    "old_meter": entry.unique_id or "-",
                    "new_meter": reading.meter_id,
                    "manufacturer": reading.manufacturer or "-",
                    "meter_type": reading.meter_type or "-",
                },
            )
        await async_adopt_meter(
            self.hass,
            entry,
            reading.meter_id,
            system_title=reading.system_title.hex().upper() if reading.system_title else None,
            meter_type=reading.meter_type,
            manufacturer=reading.manufacturer,
            list_version=reading.list_version,
        )
        keys = reading_keys(reading)
        return self.async_update_reload_and_abort(
            entry,
            data_updates={
                **data,
                CONF_SEEN_OBIS: sorted(keys.union(entry.data.get(CONF_SEEN_OBIS, ()))),
            },
            reason="meter_replaced",
        )

    def _heard_data(self) -> dict[str, Any]:
        """The port, keys and line settings the meter was heard with."""
        heard = self._heard
        assert heard is not None
        assert heard.reading is not None
        return {
            **self._data,
            CONF_BAUDRATE: heard.settings.baudrate,
            CONF_PARITY: heard.settings.parity,
            CONF_BYTE_SIZE: heard.settings.byte_size,
            CONF_TRANSPORT: heard.reading.transport,
        }

    def _save_meter(
        self, reading: Reading, data: dict[str, Any], *, reason: str | UndefinedType = UNDEFINED
    ) -> ConfigFlowResult:
        """Create the entry for the meter heard (port or topic alike), or update the
        entry being reconfigured (and end with `reason`)."""
        if reading.system_title:
            # From the first frame on, the hub tells this meter's encrypted frames
            # from a neighbour's on the same bus by it (entry data, see hub.py).
            data[CONF_SYSTEM_TITLE] = reading.system_title.hex().upper()
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data_updates=data, reason=reason
            )
        data |= _meter_data(reading)
        title = " ".join(part for part in (reading.manufacturer, reading.meter_type) if part)
        return self.async_create_entry(title=title or "HAN Port", data=data)

    # ---- an MQTT topic ------------------------------------------------------------------

    async def _async_topic_chosen(self, user_input: dict[str, Any]) -> ConfigFlowResult | None:
        """The user step with a topic: listen on it. None: a port was chosen instead."""
        topic = str(user_input.get(CONF_TOPIC) or "").strip()
        device = str(user_input.get(CONF_DEVICE) or "").strip()
        if device and not topic:
            return None
        self._data = {CONF_SOURCE: SOURCE_MQTT, CONF_TOPIC: topic}
        if not topic:
            self._error = "no_source"
        elif device:
            self._error = "port_and_topic"
        else:
            self._error = self._topic_error(topic)
        if self._error is not None:
            return self._show_port_form("user")
        self._async_abort_entries_match({CONF_TOPIC: topic})
        return await self.async_step_mqtt_listen()

    def _topic_error(self, topic: str) -> str | None:
        """Why HAN Port cannot listen on `topic`, or None."""
        if not mqtt_configured(self.hass):
            # Said before listening: the topic is not what is wrong.
            return "mqtt_not_configured"
        from homeassistant.components.mqtt import valid_subscribe_topic  # noqa: PLC0415

        try:
            valid_subscribe_topic(topic)
        except probatio.Invalid:
            return "invalid_topic"
        return None

    async def async_step_mqtt_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move an MQTT meter to another topic; entities and history stay."""
        entry = self._get_reconfigure_entry()
        if user_input is not None:
            topic = str(user_input[CONF_TOPIC]).strip()
            self._data = {
                CONF_SOURCE: SOURCE_MQTT,
                CONF_TOPIC: topic,
                CONF_KEY: entry.data.get(CONF_KEY),
                CONF_AUTH_KEY: entry.data.get(CONF_AUTH_KEY),
            }
            self._error = self._topic_error(topic)
            if self._error is None:
                return await self.async_step_mqtt_listen()
        errors = {"base": self._error} if self._error else {}
        self._error = None
        schema = probatio.Schema({probatio.Required(CONF_TOPIC): TextSelector()})
        return self.async_show_form(
            step_id="mqtt_reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                schema, {CONF_TOPIC: self._data.get(CONF_TOPIC) or entry.data[CONF_TOPIC]}
            ),
            errors=errors,
            description_placeholders=self._take_placeholders(),
        )

    async def async_step_mqtt_listen(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Listen on the topic until the meter names itself (bounded)."""
        topic: str = self._data[CONF_TOPIC]
        if self._mqtt_task is None:
            self._mqtt_task = self.hass.async_create_task(
                listen_mqtt(self.hass, topic, decoder_options(self.hass, self._data)),
                eager_start=False,
            )
        if not self._mqtt_task.done():
            return self._show_listening("mqtt_listen", self._mqtt_task, {"topic": topic})
        task, self._mqtt_task = self._mqtt_task, None
        self._mqtt_heard = self._listening_result(task, f"MQTT topic {topic}")
        return self._listening_done(
            self._mqtt_heard, "mqtt_reconfigure", "mqtt_key", "mqtt_confirm"
        )

    async def async_step_mqtt_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The frames on the topic are encrypted: ask for the key, check it on what came."""
        heard = self._mqtt_heard
        assert heard is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            data, decoded, errors = _try_keys(
                self._data,
                user_input,
                lambda keyed: heard.decode_again(decoder_options(self.hass, keyed)),
            )
            if data is not None and decoded is not None:
                self._data = data
                self._mqtt_heard = decoded
                return await self.async_step_mqtt_confirm()
        return self._show_key_form(
            "mqtt_key", heard, user_input, errors, {"topic": self._data[CONF_TOPIC]}
        )

    async def async_step_mqtt_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the meter found on the topic; create (or, reconfiguring, update) the entry."""
        heard, reading = await self._identify(self._mqtt_heard)
        data = {**self._data, CONF_TRANSPORT: Transport.AUTO}
        if (
            self.source == SOURCE_RECONFIGURE
            and reading.meter_id is not None
            and reading.meter_id != self._get_reconfigure_entry().unique_id
        ):
            # The same choice as on a port: the grid company replaced the meter.
            self._replacement = (reading, data)
            return await self.async_step_replace_meter()
        if user_input is None:
            return self.async_show_form(
                step_id="mqtt_confirm",
                description_placeholders={
                    **_meter_placeholders(reading),
                    "topic": self._data[CONF_TOPIC],
                    "payload": heard.form,
                },
            )
        return self._save_meter(reading, data, reason="topic_changed")

    def _take_placeholders(self) -> dict[str, str]:
        """Placeholders an error message on the next form uses (once)."""
        placeholders, self._placeholders = self._placeholders, {}
        return placeholders


# The user step: a port, or the topic an MQTT reader publishes to (one of the two).
_USER_SCHEMA: Final = probatio.Schema(
    {
        probatio.Optional(CONF_DEVICE): SerialPortSelector(),
        probatio.Optional(CONF_TOPIC): TextSelector(),
    }
)


# The key step, for a port and for an MQTT topic alike.
_KEY_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(CONF_KEY): TextSelector(),
        probatio.Optional(CONF_AUTH_KEY): TextSelector(),
    }
)


def _try_keys[H: HeardVerdict](
    data: dict[str, Any], user_input: dict[str, Any], decode: Callable[[dict[str, Any]], H]
) -> tuple[dict[str, Any] | None, H | None, dict[str, str]]:
    """The entry data with the typed keys and what they decode, or the form's errors."""
    key = normalize_key(user_input[CONF_KEY])
    auth_text = user_input.get(CONF_AUTH_KEY, "").strip()
    auth_key = normalize_key(auth_text) if auth_text else None
    if key is None:
        return None, None, {CONF_KEY: "invalid_key_format"}
    if auth_text and auth_key is None:
        return None, None, {CONF_AUTH_KEY: "invalid_key_format"}
    keyed = {**data, CONF_KEY: key, CONF_AUTH_KEY: auth_key}
    decoded = decode(keyed)
    if decoded.reading is not None:
        return keyed, decoded, {}
    if auth_key and decode({**keyed, CONF_AUTH_KEY: None}).reading is not None:
        # The decoder refuses unauthenticated frames once an authentication key is
        # set (no silent downgrade): say which field is wrong instead of blaming the key.
        return None, None, {CONF_AUTH_KEY: "auth_key_not_used"}
    return None, None, {"base": "invalid_key"}


def _meter_placeholders(reading: Reading) -> dict[str, str]:
    """What the confirm step shows of the meter heard (serial or MQTT alike)."""
    return {
        "manufacturer": reading.manufacturer or "-",
        "meter_type": reading.meter_type or "-",
        "meter_id": reading.meter_id or "-",
        "list_version": reading.list_version or "-",
        "transport": reading.transport,
        "encrypted": "yes" if reading.encrypted else "no",
        "values": str(len(reading.values)),
    }


def _meter_data(reading: Reading) -> dict[str, Any]:
    """What a new entry keeps of the meter's first reading (serial or MQTT alike)."""
    keys = reading_keys(reading)
    if reading.meter_id:
        keys.add(KEY_METER_ID)
    if reading.list_version:
        keys.add(KEY_LIST_VERSION)
    data: dict[str, Any] = {
        CONF_METER_TYPE: reading.meter_type,
        CONF_MANUFACTURER: reading.manufacturer,
        CONF_LIST_VERSION: reading.list_version,
        CONF_SEEN_OBIS: sorted(keys),
    }
    if sub_meters := {
        str(sub_meter.channel): sub_meter.equipment_id
        for sub_meter in reading.sub_meters
        if sub_meter.medium is not None
    }:
        data[CONF_SUB_METERS] = sub_meters
    return data


class HanPortOptionsFlow(OptionsFlowWithReload):
    """How often fast values are written, the current-transformer scale, the price
    sensors that give the hourly energy statistics their cost, and the capacity tariff
    (a section of its own, saved flat with the other options)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            for option in (CONF_IMPORT_PRICE, CONF_EXPORT_PRICE):
                if (entity_id := user_input.get(option)) and not self._is_price(entity_id):
                    errors[option] = "price_unit"
            saved = {k: v for k, v in user_input.items() if k != OPTIONS_SECTION_CAPACITY}
            if (tariff := user_input.get(OPTIONS_SECTION_CAPACITY)) is None:
                saved |= _tariff_suggested(self.config_entry.options)
            else:
                try:
                    saved |= _tariff_options(tariff)
                except LadderError as err:
                    # A field inside a section shows no error of its own: the section does.
                    errors[OPTIONS_SECTION_CAPACITY] = f"ladder_{err.reason}"
            if not errors:
                return self.async_create_entry(data=saved)
        options = self.config_entry.options
        tariff_on = options.get(CONF_CAPACITY_TARIFF, self.hass.config.country == "NO")
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_POWER_INTERVAL,
                    default=options.get(CONF_POWER_INTERVAL, DEFAULT_POWER_INTERVAL),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=300,
                        step=0.5,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                probatio.Required(
                    CONF_MEASUREMENT_INTERVAL,
                    default=options.get(CONF_MEASUREMENT_INTERVAL, DEFAULT_MEASUREMENT_INTERVAL),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=3600,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                probatio.Required(
                    CONF_SCALE, default=options.get(CONF_SCALE, DEFAULT_SCALE)
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=0.001, max=10000, step="any", mode=NumberSelectorMode.BOX
                    )
                ),
                # Optional and without a default, so that a chosen sensor can be cleared.
                probatio.Optional(CONF_IMPORT_PRICE): EntitySelector(
                    EntitySelectorConfig(domain="sensor")
                ),
                probatio.Optional(CONF_EXPORT_PRICE): EntitySelector(
                    EntitySelectorConfig(domain="sensor")
                ),
                # Optional: a client that leaves the section out keeps the tariff as it is.
                probatio.Optional(OPTIONS_SECTION_CAPACITY): section(
                    probatio.Schema(
                        {
                            probatio.Required(
                                CONF_CAPACITY_TARIFF, default=tariff_on
                            ): BooleanSelector(),
                            probatio.Required(
                                CONF_CAPACITY_LADDER,
                                default=options.get(
                                    CONF_CAPACITY_LADDER, format_ladder(DEFAULT_LADDER)
                                ),
                            ): TextSelector(),
                            probatio.Required(
                                CONF_CAPACITY_PEAKS,
                                default=options.get(CONF_CAPACITY_PEAKS, DEFAULT_COUNT),
                            ): NumberSelector(
                                NumberSelectorConfig(
                                    min=1,
                                    max=MAX_CAPACITY_PEAKS,
                                    step=1,
                                    mode=NumberSelectorMode.BOX,
                                )
                            ),
                            probatio.Required(
                                CONF_CAPACITY_METHOD,
                                default=options.get(CONF_CAPACITY_METHOD, PeakMethod.TOP_DAYS),
                            ): SelectSelector(
                                SelectSelectorConfig(
                                    options=[method.value for method in PeakMethod],
                                    mode=SelectSelectorMode.LIST,
                                    translation_key=CONF_CAPACITY_METHOD,
                                )
                            ),
                        }
                    ),
                    {"collapsed": not tariff_on},
                ),
            }
        )
        suggested = {**options, OPTIONS_SECTION_CAPACITY: _tariff_suggested(options)}
        if user_input is not None:
            suggested = user_input
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    def _is_price(self, entity_id: str) -> bool:
        """Whether the sensor gives a price per energy; one not loaded yet gets the benefit
        of the doubt (its states are checked hour by hour anyway)."""
        state = self.hass.states.get(entity_id)
        if state is None:
            return True
        return price_factor_per_kwh(state.attributes.get("unit_of_measurement")) is not None


_TARIFF_OPTIONS: Final = (
    CONF_CAPACITY_TARIFF,
    CONF_CAPACITY_LADDER,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_METHOD,
)


def _tariff_options(tariff: dict[str, Any]) -> dict[str, Any]:
    """The tariff section's input as options; LadderError for step limits that cannot be used.

    The ladder is saved as `format_ladder` writes it, so the form shows it back the
    same way whatever separators were typed.
    """
    return {
        CONF_CAPACITY_TARIFF: bool(tariff[CONF_CAPACITY_TARIFF]),
        CONF_CAPACITY_LADDER: format_ladder(parse_ladder(tariff[CONF_CAPACITY_LADDER])),
        CONF_CAPACITY_PEAKS: int(tariff[CONF_CAPACITY_PEAKS]),
        CONF_CAPACITY_METHOD: tariff[CONF_CAPACITY_METHOD],
    }


def _tariff_suggested(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: options[key] for key in _TARIFF_OPTIONS if key in options}
