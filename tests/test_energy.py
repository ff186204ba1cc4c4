"""The Energy dashboard takes the registers as a grid source without a warning."""

from __future__ import annotations

from homeassistant.components.energy import data as energy_data, validate as energy_validate
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from .conftest import built_frame, make_entry, set_up, until
from .pty_meter import PtyMeter

# The recorder must exist before hass starts: it comes first.
pytestmark = pytest.mark.usefixtures("recorder_mock", "integration")

ENERGY = "sensor.kamstrup_active_energy_import"


async def assert_grid_source_is_valid(
    hass: HomeAssistant,
    *,
    energy_from: str,
    energy_to: str,
    cost: str | None = None,
    compensation: str | None = None,
) -> None:
    """Set the dashboard's grid source to these statistics; energy/validate finds no issue."""
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "grid",
                    "stat_energy_from": energy_from,
                    "stat_energy_to": energy_to,
                    "stat_cost": cost,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                    "stat_compensation": compensation,
                    "entity_energy_price_export": None,
                    "number_energy_price_export": None,
                    "cost_adjustment_day": 0,
                }
            ]
        }
    )
    validation = await energy_validate.async_validate(hass)
    assert validation.as_dict() == {
        "energy_sources": [[]],
        "device_consumption": [],
        "device_consumption_water": [],
    }


async def test_energy_dashboard_takes_the_registers(hass: HomeAssistant, meter: PtyMeter) -> None:
    """Import and export registers as the grid source: no validation issue."""
    assert await async_setup_component(hass, "energy", {})
    entry = await set_up(hass, make_entry(meter.path, seen=["1.7.0", "2.7.0", "1.8.0", "2.8.0"]))
    meter.send(built_frame("kamstrup", "list2", {"1.8.0": 1000.0, "2.8.0": 20.0}))
    await until(lambda: entry.runtime_data.hub.decoder.stats.readings == 1)
    await async_wait_recording_done(hass)
    # Compile the current 5-minute period, as the recorder does every 5 minutes.
    now = dt_util.utcnow()
    do_adhoc_statistics(
        hass, start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    )
    await async_wait_recording_done(hass)
    await assert_grid_source_is_valid(
        hass, energy_from=ENERGY, energy_to="sensor.kamstrup_active_energy_export"
    )
