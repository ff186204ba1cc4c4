"""Every string the code refers to exists, in every language, with its placeholders."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any

import pytest

from custom_components.han_port.capacity import PeakMethod
from custom_components.han_port.const import (
    CONF_CAPACITY_LADDER,
    CONF_CAPACITY_METHOD,
    CONF_CAPACITY_PEAKS,
    CONF_CAPACITY_TARIFF,
    ISSUE_DECRYPT_FAILING,
    ISSUE_METER_REPLACED,
    ISSUE_NO_VALID_FRAMES,
    OPTIONS_SECTION_CAPACITY,
)
from custom_components.han_port.sensor import SENSORS
from custom_components.han_port.tariff_sensor import CAPACITY, PEAKS, RUNNING

# Every LadderError reason capacity.py raises has its options form error.
LADDER_ERRORS = set(
    re.findall(
        r'LadderError\(\s*"(\w+)"',
        (Path(__file__).parent.parent / "custom_components/han_port/capacity.py").read_text(),
    )
)

PACKAGE = Path(__file__).parent.parent / "custom_components" / "han_port"
LANGUAGES = ("en", "nb", "nn", "sv", "da")


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PACKAGE / name).read_text(encoding="utf-8"))
    return loaded


def _leaves(tree: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        else:
            yield ".".join((*path, key)), value


STRINGS = _load("strings.json")


def test_english_is_strings_json() -> None:
    """Custom integrations load translations/en.json; it must not drift from strings.json."""
    assert _load("translations/en.json") == STRINGS


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_is_complete(language: str) -> None:
    """Same keys, same placeholders, no English left over in keys that differ."""
    english = dict(_leaves(STRINGS))
    translated = dict(_leaves(_load(f"translations/{language}.json")))
    assert translated.keys() == english.keys()
    placeholder = re.compile(r"\{\w+\}")
    for key, text in english.items():
        assert set(placeholder.findall(translated[key])) == set(placeholder.findall(text)), key


def test_code_and_strings_agree() -> None:
    """Sensor names, icons, flow errors and repair issues all have their strings."""
    names = STRINGS["entity"]["sensor"]
    icons = _load("icons.json")["entity"]["sensor"]
    devices = STRINGS["device"]
    for description in SENSORS:
        if description.medium is not None:
            # A sub-meter's reading takes its device's name ("Gas meter").
            assert description.name is None
            assert description.translation_key is None
            assert f"{description.medium}_meter" in devices
            continue
        assert description.translation_key in names
        placeholders = set(re.findall(r"\{(\w+)\}", names[description.translation_key]["name"]))
        assert placeholders == set(description.translation_placeholders or {})
    # The running hour and the capacity tariff (tariff_sensor.py).
    for description in (*RUNNING, *CAPACITY, *PEAKS):
        assert description.translation_key in names
        assert description.translation_key in icons
        placeholders = set(re.findall(r"\{(\w+)\}", names[description.translation_key]["name"]))
        assert placeholders == set(description.translation_placeholders or {})
    options = STRINGS["options"]
    assert len(LADDER_ERRORS) == 4
    assert {f"ladder_{reason}" for reason in LADDER_ERRORS} <= set(options["error"])
    section = options["step"]["init"]["sections"][OPTIONS_SECTION_CAPACITY]
    assert (
        set(section["data"])
        == set(section["data_description"])
        == {
            CONF_CAPACITY_TARIFF,
            CONF_CAPACITY_LADDER,
            CONF_CAPACITY_PEAKS,
            CONF_CAPACITY_METHOD,
        }
    )
    assert set(STRINGS["selector"][CONF_CAPACITY_METHOD]["options"]) == {
        method.value for method in PeakMethod
    }
    assert set(icons) <= set(names)
    assert "electricity_meter" in devices
    flow_errors = {"cannot_connect", "no_data", "no_valid_frames", "invalid_key", "unknown"}
    field_errors = {"invalid_key_format", "auth_key_not_used"}
    assert flow_errors | field_errors <= set(STRINGS["config"]["error"])
    assert {ISSUE_NO_VALID_FRAMES, ISSUE_DECRYPT_FAILING, ISSUE_METER_REPLACED} <= set(
        STRINGS["issues"]
    )
    # The replaced meter: a fix flow in the repair, a step and an end in reconfigure.
    fix_flow = STRINGS["issues"][ISSUE_METER_REPLACED]["fix_flow"]
    assert set(fix_flow["step"]) == {"confirm"}
    assert set(fix_flow["abort"]) == {"already_configured", "entry_gone"}
    assert "replace_meter" in STRINGS["config"]["step"]
    assert "meter_replaced" in STRINGS["config"]["abort"]
