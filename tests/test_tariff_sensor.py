"""The tariff sensors: who sees which without configuring, and how often they are written.

The figures themselves are compared with a reference in test_tariff.py; here the same
house model drives the entities through the hub and the recorder.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_component import DATA_INSTANCES
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from sqlalchemy.exc import SQLAlchemyError

from custom_components.han_port.const import CONF_CAPACITY_PEAKS, CONF_CAPACITY_TARIFF

from .conftest import make_entry, set_up
from .pty_meter import PtyMeter
from .test_tariff import (
    METER_ID,
    House,
    configure,
    local,
    norway,  # noqa: F401 (the fixture: Oslo time, country NO)
    sensor,
    settle,
    start,
)

pytestmark = pytest.mark.usefixtures("recorder_mock", "integration")


PROMINENT = {
    "energy_import_this_hour",
    "energy_import_hour_estimate",
    "capacity_average",
    "capacity_step",
    "capacity_headroom",
}
RUNNING = {
    "energy_import_this_hour",
    "energy_import_hour_estimate",
    "energy_import_today",
    "energy_import_this_month",
    "energy_export_this_hour",
    "energy_export_today",
    "energy_export_this_month",
}
CAPACITY = {
    "capacity_average",
    "capacity_step",
    "capacity_step_limit",
    "capacity_headroom",
    "capacity_peak_1",
    "capacity_peak_2",
    "capacity_peak_3",
}


def tariff_entities(hass: HomeAssistant) -> dict[str, bool]:
    """Key -> enabled, for the tariff sensors in the registry."""
    prefix = f"{METER_ID}_"
    return {
        entry.unique_id.removeprefix(prefix): entry.disabled_by is None
        for entry in er.async_get(hass).entities.values()
        if entry.platform == "han_port"
        and entry.unique_id.removeprefix(prefix) in RUNNING | CAPACITY
    }


@pytest.mark.freeze_time("2026-04-01 08:00:00+00:00", tick=True)
async def test_norway_sees_the_tariff_without_configuring(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, fake_clock: list[float]
) -> None:
    """In Norway the running hour, average, step and headroom are on; the rest is there,
    disabled. The month's figures stay while the meter is silent; the hour's do not."""
    house = await start(hass, meter, freezer, fake_clock, local(4, 1, 10, 0))
    assert tariff_entities(hass) == {key: key in PROMINENT for key in RUNNING | CAPACITY}
    await house.send_power(house.now, 1500)
    assert sensor(hass, "capacity_headroom").state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    assert sensor(hass, "capacity_step").state == "1"
    # Silence: the watchdog makes the meter's live figures unavailable.
    await house.at(house.now + timedelta(minutes=5))
    async_fire_time_changed(hass, house.now)
    await hass.async_block_till_done()
    assert sensor(hass, "capacity_headroom").state == STATE_UNAVAILABLE
    assert sensor(hass, "energy_import_this_hour").state == STATE_UNAVAILABLE
    assert sensor(hass, "capacity_step").state == "1"
    assert sensor(hass, "capacity_average").state == "0.0"


@pytest.mark.freeze_time("2026-04-01 08:00:00+00:00", tick=True)
async def test_elsewhere_the_tariff_is_an_option(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, fake_clock: list[float]
) -> None:
    """A Swedish home: no tariff until it is switched on; then it is shown."""
    hass.config.country = "SE"
    house = await start(hass, meter, freezer, fake_clock, local(4, 1, 10, 0))
    assert tariff_entities(hass) == dict.fromkeys(RUNNING, False)
    result = await configure(hass, house.entry, {CONF_CAPACITY_PEAKS: 2})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)
    assert house.entry.options[CONF_CAPACITY_TARIFF] is True
    assert tariff_entities(hass) == {
        **dict.fromkeys(RUNNING, False),
        **{key: key in PROMINENT for key in CAPACITY - {"capacity_peak_3"}},
    }
    # And off again: the capacity sensors go, the running hour's stay.
    result = await configure(hass, house.entry, {CONF_CAPACITY_TARIFF: False})
    await settle(hass)
    assert tariff_entities(hass) == dict.fromkeys(RUNNING, False)


@pytest.mark.freeze_time("2026-04-01 08:00:00+00:00", tick=True)
async def test_running_figures_written_once_a_minute(
    hass: HomeAssistant, meter: PtyMeter, freezer: FrozenDateTimeFactory, fake_clock: list[float]
) -> None:
    """Kamstrup's list 1 every 10 s for an hour: the headroom and the hour's energy are
    written about once a minute (the default for fast-changing values), not 360 times."""
    entry = make_entry(meter.path, unique_id=METER_ID, seen=["1.7.0", "1.8.0"])
    house = House(hass, freezer, fake_clock, entry, local(4, 1, 9, 59).astimezone(UTC))
    await house.at(house.now)
    await set_up(hass, entry)
    await settle(hass)
    watched = {
        sensor(hass, key).entity_id
        for key in ("capacity_headroom", "energy_import_this_hour", "energy_import_hour_estimate")
    }
    writes: dict[str, int] = dict.fromkeys(watched, 0)

    def count(event: Any) -> None:
        if event.data["entity_id"] in watched:
            writes[event.data["entity_id"]] += 1

    remove = hass.bus.async_listen("state_changed", count)
    start_at = local(4, 1, 10).astimezone(UTC)
    for slot in range(360):
        await house.send_power(start_at + slot * timedelta(seconds=10), 2000 + 10 * (slot % 7))
        if slot == 0:
            await house.send_registers(start_at)
    remove()
    # At most one a minute, plus the hour's row and the boundary (fewer when the figure
    # does not change); never one for each of the 360 values.
    assert all(50 <= written <= 63 for written in writes.values()), writes


@pytest.mark.freeze_time("2026-04-01 08:00:00+00:00", tick=True)
async def test_a_failing_recorder_leaves_the_figures_unavailable(
    hass: HomeAssistant,
    *,
    meter: PtyMeter,
    freezer: FrozenDateTimeFactory,
    fake_clock: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the month's history no peak is shown, and nothing piles up meanwhile."""
    with patch(
        "custom_components.han_port.tariff.statistics_during_period",
        side_effect=SQLAlchemyError("database is locked"),
    ):
        house = await start(hass, meter, freezer, fake_clock, local(4, 1, 10, 0))
        for minute in range(3):
            await house.send_power(house.now + timedelta(minutes=minute), 1500)
    for key in ("capacity_step", "capacity_headroom", "energy_import_this_hour"):
        assert sensor(hass, key).state == STATE_UNAVAILABLE
    assert sensor(hass, "capacity_step").attributes.get("label") is None
    headroom = hass.data[DATA_INSTANCES]["sensor"].get_entity(
        sensor(hass, "capacity_headroom").entity_id
    )
    assert headroom is not None
    assert headroom._tracker._held == []
    assert "could not read this month's hours from the recorder" in caplog.text
