"""Repair flows: adopt the meter that replaced the entry's own.

The hub raises the fixable issue once a new meter id has been the only one on the
port for a while (meter_filter.py); the flow shows both meters and, confirmed, moves
the entry, its device and its entities to the new meter (entity.async_adopt_meter).
"""

from __future__ import annotations

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
import probatio

from .const import DOMAIN, ISSUE_METER_REPLACED
from .entity import async_adopt_meter
from .hub import entry_source_name


def _text(data: dict[str, str | int | float | None], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


class MeterReplacedRepairFlow(RepairsFlow):
    """Show the old and the new meter; on confirmation, continue with the new one."""

    def __init__(self, entry: ConfigEntry, issue: dict[str, str | int | float | None]) -> None:
        self._entry = entry
        self._issue = issue

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Adopt the new meter, or say why it cannot be adopted."""
        entry = self._entry
        issue = self._issue
        meter_id = str(issue["meter_id"])
        if self.hass.config_entries.async_get_entry(entry.entry_id) is None:
            # Removed while the flow was open.
            return self.async_abort(reason="entry_gone")
        if any(
            other.unique_id == meter_id and other.entry_id != entry.entry_id
            for other in self.hass.config_entries.async_entries(DOMAIN)
        ):
            # The new meter has an entry of its own: two entries must not read one meter.
            return self.async_abort(reason="already_configured")
        if user_input is None:
            return self.async_show_form(
                step_id="confirm",
                data_schema=probatio.Schema({}),
                description_placeholders={
                    "title": entry.title,
                    "device": entry_source_name(entry),
                    "old_meter": entry.unique_id or "-",
                    "new_meter": meter_id,
                    "manufacturer": _text(issue, "manufacturer") or "-",
                    "meter_type": _text(issue, "meter_type") or "-",
                },
            )
        await async_adopt_meter(
            self.hass,
            entry,
            meter_id,
            system_title=_text(issue, "system_title"),
            meter_type=_text(issue, "meter_type"),
            manufacturer=_text(issue, "manufacturer"),
            list_version=_text(issue, "list_version"),
        )
        await self.hass.config_entries.async_reload(entry.entry_id)
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant,
    issue_id: str,
    data: dict[str, str | int | float | None] | None,
) -> RepairsFlow:
    """The flow that fixes `issue_id` (only the replaced meter's issue is fixable)."""
    if (
        issue_id.startswith(f"{ISSUE_METER_REPLACED}_")
        and data is not None
        and isinstance(entry_id := data.get("entry_id"), str)
        and (entry := hass.config_entries.async_get_entry(entry_id)) is not None
    ):
        return MeterReplacedRepairFlow(entry, data)
    # An issue of an entry removed since: confirming just dismisses it.
    return ConfirmRepairFlow()
