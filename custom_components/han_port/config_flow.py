"""Config flow: pick the port, listen for the meter, confirm what was found.

USB discovery (through HA's usb integration, part of default_config) matches only
adapters whose USB product string names what they are for: "*M-Bus*" / "*MBUS*"
(manifest.json "usb"). The usual HAN adapters built on generic CH340, CP210x or
FT232 chips report nothing that tells them apart from any other serial cable, so
they get no matcher and are picked from the port list instead.
"""

from __future__ import annotations

import asyncio
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
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SerialPortSelector,
    TextSelector,
)
from homeassistant.helpers.service_info.usb import UsbServiceInfo
import probatio

from . import decoder_options
from .const import (
    CONF_AUTH_KEY,
    CONF_BAUDRATE,
    CONF_BYTE_SIZE,
    CONF_DEVICE,
    CONF_KEY,
    CONF_LIST_VERSION,
    CONF_MANUFACTURER,
    CONF_MEASUREMENT_INTERVAL,
    CONF_METER_TYPE,
    CONF_PARITY,
    CONF_POWER_INTERVAL,
    CONF_SCALE,
    CONF_SEEN_OBIS,
    CONF_SUB_METERS,
    CONF_SYSTEM_TITLE,
    CONF_TRANSPORT,
    DEFAULT_MEASUREMENT_INTERVAL,
    DEFAULT_POWER_INTERVAL,
    DEFAULT_SCALE,
    DOMAIN,
    LOGGER,
)
from .detect import DetectionError, Heard, decode_captured, detect_meter
from .hub import KEY_LIST_VERSION, KEY_METER_ID, reading_keys
from .reader import line_settings_apply

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

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> HanPortOptionsFlow:
        return HanPortOptionsFlow()

    # ---- where the port comes from -------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick a port from the list, or type a path or a socket://host:port URL."""
        if user_input is not None:
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
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, {CONF_DEVICE: device or self._data.get(CONF_DEVICE)}
            ),
            errors=errors,
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
            return self.async_show_progress(
                step_id="listen",
                progress_action="listen",
                progress_task=self._listen_task,
                description_placeholders={"device": self._data[CONF_DEVICE]},
            )
        task, self._listen_task = self._listen_task, None
        try:
            self._heard = task.result()
        except DetectionError as err:
            self._error = err.reason
        except Exception:
            # A bug must not leave the user at a progress bar that never ends.
            LOGGER.exception("Unexpected error while listening on %s", self._data[CONF_DEVICE])
            self._error = "unknown"
        if self._error is not None:
            return self.async_show_progress_done(
                next_step_id="reconfigure" if self.source == SOURCE_RECONFIGURE else "user"
            )
        assert self._heard is not None
        if self._heard.reading is None:
            return self.async_show_progress_done(next_step_id="key")
        return self.async_show_progress_done(next_step_id="confirm")

    async def async_step_key(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The frames are encrypted: ask for the key and check it on what was heard."""
        assert self._heard is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            key = normalize_key(user_input[CONF_KEY])
            auth_text = user_input.get(CONF_AUTH_KEY, "").strip()
            auth_key = normalize_key(auth_text) if auth_text else None
            if key is None:
                errors[CONF_KEY] = "invalid_key_format"
            elif auth_text and auth_key is None:
                errors[CONF_AUTH_KEY] = "invalid_key_format"
            else:
                data = {**self._data, CONF_KEY: key, CONF_AUTH_KEY: auth_key}
                heard = self._decode_with(data)
                if heard.reading is not None:
                    self._data = data
                    self._heard = heard
                    return await self.async_step_confirm()
                if auth_key and self._decode_with({**data, CONF_AUTH_KEY: None}).reading:
                    # The decoder refuses unauthenticated frames once an
                    # authentication key is set (no silent downgrade): say which
                    # field is wrong instead of blaming the key.
                    errors[CONF_AUTH_KEY] = "auth_key_not_used"
                else:
                    errors["base"] = "invalid_key"
        elif self._heard.decrypt_failed:
            # The stored key no longer works (reconfigure after a key change).
            errors["base"] = "invalid_key"
        schema = probatio.Schema(
            {
                probatio.Required(CONF_KEY): TextSelector(),
                probatio.Optional(CONF_AUTH_KEY): TextSelector(),
            }
        )
        return self.async_show_form(
            step_id="key",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders={"device": self._data[CONF_DEVICE]},
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
        heard = self._heard
        assert heard is not None
        assert heard.reading is not None
        reading = heard.reading
        await self.async_set_unique_id(reading.meter_id, raise_on_progress=False)
        if self.source == SOURCE_RECONFIGURE:
            if reading.meter_id is not None:
                self._abort_if_unique_id_mismatch(reason="wrong_meter")
        elif reading.meter_id is not None:
            self._abort_if_unique_id_configured()

        if user_input is None:
            return self.async_show_form(
                step_id="confirm",
                description_placeholders={
                    "manufacturer": reading.manufacturer or "-",
                    "meter_type": reading.meter_type or "-",
                    "meter_id": reading.meter_id or "-",
                    "list_version": reading.list_version or "-",
                    # A raw TCP bridge sets the UART itself; ours would mislead.
                    "settings": str(heard.settings)
                    if line_settings_apply(self._data[CONF_DEVICE])
                    else "-",
                    "transport": reading.transport,
                    "encrypted": "yes" if reading.encrypted else "no",
                    "values": str(len(reading.values)),
                },
            )

        data = {
            **self._data,
            CONF_BAUDRATE: heard.settings.baudrate,
            CONF_PARITY: heard.settings.parity,
            CONF_BYTE_SIZE: heard.settings.byte_size,
            CONF_TRANSPORT: reading.transport,
        }
        if reading.system_title:
            # From the first frame on, the hub tells this meter's encrypted frames
            # from a neighbour's on the same bus by it (entry data, see hub.py).
            data[CONF_SYSTEM_TITLE] = reading.system_title.hex().upper()
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data_updates=data
            )
        keys = reading_keys(reading)
        if reading.meter_id:
            keys.add(KEY_METER_ID)
        if reading.list_version:
            keys.add(KEY_LIST_VERSION)
        data |= {
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
        title = " ".join(part for part in (reading.manufacturer, reading.meter_type) if part)
        return self.async_create_entry(title=title or "HAN Port", data=data)


class HanPortOptionsFlow(OptionsFlowWithReload):
    """How often fast values are written, and the current-transformer scale."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        options = self.config_entry.options
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
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
