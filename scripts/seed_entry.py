"""Give a development Home Assistant a HAN Port entry that reads the simulated meter.

Used by scripts/develop: writes the entry into CONFIG/.storage/core.config_entries
unless an entry for the simulated meter is there already (so a second run, or an
entry the developer made in the UI, is left alone).

    python scripts/seed_entry.py CONFIG socket://127.0.0.1:8899 aidon
"""

from __future__ import annotations

from datetime import UTC, datetime
import json
from pathlib import Path
import sys
import uuid

from custom_components.han_port.const import (
    CONF_BAUDRATE,
    CONF_DEVICE,
    CONF_MANUFACTURER,
    CONF_PARITY,
    CONF_TRANSPORT,
    DOMAIN,
)
from devtools.simulator import SimulatedMeter

# The version HA 2026.10 writes; an older HA would refuse the file, a newer one migrates.
STORAGE = {"version": 1, "minor_version": 5, "key": "core.config_entries"}


def main(config: str, url: str, vendor: str) -> int:
    meter = SimulatedMeter(vendor, datetime.now(UTC), seed=0)
    path = Path(config) / ".storage" / "core.config_entries"
    stored = json.loads(path.read_text()) if path.exists() else {**STORAGE, "data": {}}
    entries: list[dict[str, object]] = stored["data"].setdefault("entries", [])
    if any(e["domain"] == DOMAIN and e["unique_id"] == meter.meter_id for e in entries):
        return 0
    now = datetime.now(UTC).isoformat()
    entries.append(
        {
            "created_at": now,
            "data": {
                CONF_DEVICE: url,
                # A TCP bridge ignores line settings; these are what a real port would use.
                CONF_BAUDRATE: 2400,
                CONF_PARITY: "E",
                CONF_TRANSPORT: "hdlc",
                CONF_MANUFACTURER: vendor.capitalize(),
            },
            "discovery_keys": {},
            "disabled_by": None,
            "domain": DOMAIN,
            "entry_id": uuid.uuid4().hex,
            "minor_version": 1,
            "modified_at": now,
            "options": {},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "subentries": [],
            "title": f"Simulated {vendor.capitalize()} meter",
            "unique_id": meter.meter_id,
            "version": 1,
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    print(f"seed_entry: HAN Port entry for simulated meter {meter.meter_id} at {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
