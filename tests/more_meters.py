"""The captures of tests/fixtures/more_meters.json, and how a test reads them.

Loaded through devtools.corpus like corpus.json; `raw_bytes` is that module's. The
entry format is corpus.json's (tests/fixtures/CORPUS.md), except that
`expected.values` maps each OBIS code to [value, unit]: the Measurement a Reading
carries for it, unit None for power factor.
"""

from __future__ import annotations

from datetime import datetime

from custom_components.han_port.han.model import Measurement, Obis
from custom_components.han_port.han.options import DecoderOptions
from devtools.corpus import FIXTURES, Entry, load, raw_bytes

__all__ = [
    "BY_ID",
    "DENMARK",
    "DK_ENCRYPTED",
    "DK_NES",
    "DK_PLAIN",
    "ENTRIES",
    "IDENTITY",
    "P1",
    "POSITIONAL",
    "REGISTER_MAP",
    "TRAILING_METER_NUMBER",
    "Entry",
    "expected_timestamp",
    "expected_values",
    "key_of",
    "options_for",
    "raw_bytes",
]

ENTRIES: list[Entry] = load(FIXTURES / "more_meters.json")
BY_ID: dict[str, Entry] = {entry["id"]: entry for entry in ENTRIES}
P1: list[Entry] = [entry for entry in ENTRIES if entry["list"] == "p1"]

FLUVIUS = "p1-be-fluvius-v171-dsmrparser"
EON_HU = "p1-hu-eon-sagemcom-dsmrparser"
EASYMETER_FF = "p1-de-easymeter-q3db1024-gateway-dsmrparser"
EASYMETER_DE = "p1-de-easymeter-q3da1004-gateway-dsmrparser"
ISKRA_IE = "p1-ie-iskra-ie5t-dsmrparser"
UNPADDED_CRC = "p1-nl-dsmr5-unpadded-crc-warmtelink-dsmrparser"
T210_PLAIN = "p1-at-sagemcom-t210dr-plain-dsmrparser"
T210_ENCRYPTED = "p1-at-sagemcom-t210dr-encrypted-dsmrparser-recipe"
SMARTY_PLAIN = "p1-lu-sagemcom-smarty-plain-meterlogger"
SMARTY_ENCRYPTED = "p1-lu-sagemcom-smarty-encrypted-fixed-auth-key-synthetic"


# DLMS captures by what their decoding rests on (a capture may need more than one).
# The COSEM logical device name as meter id, no sub-meter id as meter id.
IDENTITY: list[Entry] = [
    BY_ID[name]
    for name in (
        "landisgyr-ch-e450-gbt-mbus-channels-scs",
        "landisgyr-ch-e570-vse2026-gbt4-scs",
        "landisgyr-ch-e570-vse2026-long64-load-scs",
        "landisgyr-ch-e570-gbt5-encrypted-scs",
        "iskraemeco-ch-am550-vse2026-hdlc-segmented-scs",
        "landisgyr-ch-e360-vse2026-single-long-frame-scs",
    )
]
# Per-model units for lists without scaler/unit (vendors.py model rows).
REGISTER_MAP: list[Entry] = [
    BY_ID[name]
    for name in (
        "landisgyr-ch-e450-vse2026-gbt4-scs",
        "landisgyr-ch-e450-gbt-incomplete-then-complete-scs",
        "landisgyr-ch-e450-gbt3-meterid-scs",
        "landisgyr-ch-e570-vse2026-gbt4-scs",
        "landisgyr-ch-e570-vse2026-long64-load-scs",
        "landisgyr-ch-e570-gbt5-encrypted-scs",
        "iskraemeco-ch-am550-vse2026-hdlc-segmented-scs",
        "iskraemeco-ch-am550-28-objects-hdlc-segmented-scs",
        "landisgyr-ch-e360-vse2026-single-long-frame-scs",
    )
]
# Lists without OBIS codes, read by position (vendors.py BARE lists).
POSITIONAL: list[Entry] = [
    entry
    for entry in ENTRIES
    if entry["id"].startswith(
        ("landisgyr-at-e450-burgenland-", "iskraemeco-si-am550-elektro-ljubljana-")
    )
]

# Lists that end with the meter number as a bare octet-string (Netz Niederösterreich).
TRAILING_METER_NUMBER: list[Entry] = [BY_ID["sagemcom-at-t210d-evn-mbus-encrypted-energyagent"]]
# Danish Kamstrup Omnipower: the real plain list and its encryption with test keys.
DK_PLAIN = "kamstrup-dk-omnipower-list2-3ph-plain-amsreader-gh741"
DK_ENCRYPTED = "kamstrup-dk-omnipower-list2-3ph-encrypted-gh741-synthetic"
DENMARK: list[Entry] = [BY_ID[DK_PLAIN], BY_ID[DK_ENCRYPTED]]
# Danish NES (formerly Echelon) meters send P1 telegrams.
DK_NES = "p1-dk-nes-83335-3ph-amsreader-gh712"


def key_of(entry: Entry, name: str = "key_hex") -> bytes | None:
    """The entry's encryption key ("key_hex") or authentication key ("auth_key_hex")."""
    value = entry.get(name)
    return bytes.fromhex(value) if value else None


def options_for(entry: Entry) -> DecoderOptions:
    """Decoder options as the owner of that meter would set them."""
    return DecoderOptions(
        key=key_of(entry),
        auth_key=key_of(entry, "auth_key_hex"),
        country=entry["country"],
    )


def expected_values(entry: Entry) -> dict[Obis, Measurement]:
    """What the Reading's values must be (sub-meter ids aside: they are text)."""
    return {
        Obis.parse(code): Measurement(value, unit)
        for code, (value, unit) in entry["expected"]["values"].items()
    }


def expected_timestamp(entry: Entry) -> datetime | None:
    """The meter's wall-clock time, W/S in `fold` as the P1 decoder gives it.

    `timestamp_dst` null: the meter writes no W/S flag (NES), read as fold 0.
    """
    text = entry["expected"]["timestamp"]
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(
        fold=1 if entry["expected"]["timestamp_dst"] is False else 0
    )
