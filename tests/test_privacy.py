"""Security and privacy: the key and the meter's identity stay out of logs, repair
issues, exceptions and diagnostics; wrong keys and bad tags are reported as such.

The meter id identifies a household's supply point and the system title carries the
meter's serial number: neither is logged at any level, nor is the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import logging
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.han_port import HanRuntimeData, decoder_options, hub as hub_module
from custom_components.han_port.const import (
    CONF_DEVICE,
    CONF_KEY,
    CONF_SYSTEM_TITLE,
    DOMAIN,
    ISSUE_DECRYPT_FAILING,
    ISSUE_NO_VALID_FRAMES,
)
from custom_components.han_port.diagnostics import MARKER, async_get_config_entry_diagnostics
from custom_components.han_port.hub import LAST_BYTES, MeterHub, MeterIdentity
from custom_components.han_port.port import LineSettings
from custom_components.han_port.reader import MeterReader
from devtools.corpus import capture, expected

from .conftest import (
    AIDON_LIST2,
    AIDON_LIST3,
    ENCRYPTED,
    ENCRYPTED_KEY,
    KAIFA_LIST2,
    KAIFA_LIST3,
    KAMSTRUP_LIST1,
    KAMSTRUP_LIST2,
    P1_NL,
    make_entry,
    set_up,
    until,
)
from .pty_meter import PtyMeter
from .tcp_meter import TcpMeter
from .test_hub import KAMSTRUP_ID, KEY, OTHER_TITLE, OWN_TITLE, encrypted_frame

pytestmark = pytest.mark.usefixtures("integration")

POWER = "sensor.kamstrup_active_power_import"
OTHER_ID = "7310000000000001"
WRONG_KEY = bytes.fromhex("F0E0D0C0B0A090807060504030201000")


def _forms(secret: bytes | str) -> set[str]:
    """The ways a secret could be written into a text: as is, hex in both cases."""
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = {raw.hex(), raw.hex().upper(), " ".join(f"{b:02x}" for b in raw)}
    if isinstance(secret, str):
        forms.add(secret)
    else:
        forms.add(repr(secret)[2:-1])
    return forms


SECRETS = {
    "key": _forms(KEY),
    "meter id": _forms(KAMSTRUP_ID),
    "other meter id": _forms(OTHER_ID),
    "system title": _forms(OWN_TITLE),
    "other system title": _forms(OTHER_TITLE),
}


def _leaks(text: str) -> list[str]:
    return [name for name, forms in SECRETS.items() if any(form in text for form in forms)]


def _integration_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every record of the integration and of the libraries it drives, with tracebacks.

    Home Assistant's own bus debugging prints every state, including the meter id
    sensor's: that is HA's choice for all sensors, not a line this integration writes.
    """
    lines = []
    for record in caplog.records:
        if (
            record.name.startswith(
                ("custom_components.han_port", "serialx", "homeassistant.config_entries")
            )
            or record.levelno >= logging.WARNING
        ):
            lines.append(record.getMessage())
            if record.exc_info and record.exc_info[1] is not None:
                lines.append(repr(record.exc_info[1]))
            if record.exc_text:
                lines.append(record.exc_text)
    return "\n".join(lines)


async def _flow_to_key_step(hass: HomeAssistant, device: str) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: device}
    )
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "key"
    return result["flow_id"]


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex()[:-1],  # 31 digits
        KEY.hex() + "0",  # 33 digits
        KEY.hex()[:-1] + "g",  # not hex
        KEY.hex() * 2,  # 32 bytes: an AES-256 key or both keys in one field
        "",
        "0x" + KEY.hex(),
    ],
    ids=["short", "long", "not-hex", "double", "empty", "0x-prefix"],
)
async def test_malformed_key_is_rejected_in_the_flow(
    hass: HomeAssistant, tcp_meter: TcpMeter, text: str
) -> None:
    """A key of the wrong length or not hex: a clear error on the key field, no entry."""
    tcp_meter.start([encrypted_frame(OWN_TITLE, 1500)])
    flow_id = await _flow_to_key_step(hass, tcp_meter.url)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: text})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "key"
    assert result["errors"] == {CONF_KEY: "invalid_key_format"}
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_authenticated_frames_with_a_wrong_key_in_the_flow(
    hass: HomeAssistant, tcp_meter: TcpMeter
) -> None:
    """The tag does not verify under a wrong key: "this key does not decrypt"."""
    tcp_meter.start([encrypted_frame(OWN_TITLE, 1500)])
    flow_id = await _flow_to_key_step(hass, tcp_meter.url)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: WRONG_KEY.hex()})
    assert result["errors"] == {"base": "invalid_key"}
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: KEY.hex()})
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The system title the flow heard keeps other meters out from the first frame on.
    assert result["data"][CONF_SYSTEM_TITLE] == OWN_TITLE.hex().upper()


async def test_no_secret_in_logs_issues_exceptions_or_diagnostics(
    hass: HomeAssistant,
    *,
    hass_client: ClientSessionGenerator,
    tcp_meter: TcpMeter,
    fake_clock: list[float],
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Flow, setup, a wrong key, another meter, an outage: nothing leaks."""
    caplog.set_level(logging.DEBUG)
    tcp_meter.start([encrypted_frame(OWN_TITLE, 1500)])
    flow_id = await _flow_to_key_step(hass, tcp_meter.url)
    for text in (KEY.hex()[:-1] + "g", WRONG_KEY.hex()):
        result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: text})
        assert result["step_id"] == "key"
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_KEY: KEY.hex()})
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await until(
        lambda: hass.states.get(POWER) is not None and hass.states.get(POWER).state == "1500"
    )  # type: ignore[union-attr]
    tcp_meter.stop()
    hub: MeterHub = entry.runtime_data.hub
    stats = hub.decoder.stats

    async def send(data: bytes) -> None:
        events = stats.readings + sum(stats.errors.values())
        tcp_meter.send(data)
        await until(lambda: stats.readings + sum(stats.errors.values()) > events)

    # Another meter on the bus, by meter id and by system title.
    await send(encrypted_frame(OTHER_TITLE, 10, meter_id=OTHER_ID))
    await send(encrypted_frame(OTHER_TITLE, 10, meter_id=None))
    assert hub.foreign_readings == 2

    # The grid company changes the key: reported as what it is, and after a minute the
    # repair issue says what to do. (A tag altered in transit would be read here, as
    # unauthenticated: the entry has no authentication key, see han/security.py.)
    issue_id = f"{ISSUE_DECRYPT_FAILING}_{entry.entry_id}"
    await send(encrypted_frame(OWN_TITLE, 1500, key=WRONG_KEY))
    assert "authentication tag" in hub.last_errors[-1].detail
    fake_clock[0] += hub_module.SESSION_TIMES.decrypt_failing_after
    await send(encrypted_frame(OWN_TITLE, 1500, key=WRONG_KEY))
    assert stats.errors == {"decrypt": 2}
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == ISSUE_DECRYPT_FAILING
    assert (
        issue_registry.async_get_issue(DOMAIN, f"{ISSUE_NO_VALID_FRAMES}_{entry.entry_id}") is None
    )
    issue_text = json.dumps(issue.to_json(), default=str)
    assert not _leaks(issue_text), issue_text

    # The adapter goes away and comes back.
    await tcp_meter.drop_clients()
    await until(lambda: not hub.connected)
    await until(lambda: tcp_meter.clients == 1)
    await send(encrypted_frame(OWN_TITLE, 1600))
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    diagnostics: dict[str, Any] = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert not _leaks(text)
    assert diagnostics["entry"]["data"][CONF_KEY] == "**REDACTED**"
    assert diagnostics["entry"]["data"][CONF_SYSTEM_TITLE] == "**REDACTED**"
    assert diagnostics["meter"]["meter_id"] == "**REDACTED**"
    assert diagnostics["counters"]["foreign_readings"] == 2
    # The raw bytes held both meters' frames: their ids were cut out.
    assert "**REDACTED**" in diagnostics["last_bytes"]["hex"]

    details = "\n".join(error.detail for error in hub.last_errors)
    assert not _leaks(details), details
    log = _integration_log(caplog)
    assert "another meter" in log  # the debug lines were captured: the scan is real
    assert not _leaks(log), [line for line in log.splitlines() if _leaks(line)]
    # The key never appears anywhere in the log, Home Assistant's own lines included.
    assert not [form for form in SECRETS["key"] if form in caplog.text]


# ---- ids split over reads: every chunk size, every form of every id ---------------------

LANDIS_GYR_GBT = "landisgyr-ch-e450-gbt-3frames-amsreader-gh740"
# The gas meter behind the Dutch P1 port (0-1:96.1.0), hex-encoded ASCII like 96.1.1.
P1_NL_GAS_ID = "3232323241424344313233343536373839"


def _id_forms(meter_id: str) -> set[str]:
    """An id as sent, and when it is hex-encoded ASCII (NL/BE P1) the text it encodes.

    Each in every form `_forms` knows, plus hex text in either case.
    """
    forms = _forms(meter_id) | {meter_id.lower(), meter_id.upper()}
    try:
        decoded = bytes.fromhex(meter_id).decode("ascii")
    except ValueError:
        return forms
    if decoded.isprintable():
        forms |= _forms(decoded)
    return forms


def _title_forms(title: bytes) -> set[str]:
    """A system title: binary, hex, as JSON would escape it, maker id + serial."""
    serial = title[3:].hex()
    return _forms(title) | {
        json.dumps(title.decode("latin-1"))[1:-1],
        title[:3].decode() + serial,
        title[:3].decode() + serial.upper(),
        serial,
    }


def _bad_crc(telegram: bytes) -> bytes:
    """The telegram with one digit of a reading changed: its CRC no longer matches."""
    altered = telegram.replace(b"1-0:1.7.0(00.244*kW)", b"1-0:1.7.0(00.245*kW)")
    assert altered != telegram
    return altered


@dataclass(frozen=True)
class Capture:
    """A meter's stream as captured, the ids it carries and what must stay visible."""

    stream: bytes
    ids: tuple[str, ...]
    readings: int
    unique_id: str | None
    titles: tuple[bytes, ...] = ()
    data: dict[str, str] = field(default_factory=dict)

    @property
    def forms(self) -> set[str]:
        found: set[str] = set()
        for meter_id in self.ids:
            found |= _id_forms(meter_id)
        for title in self.titles:
            found |= _title_forms(title)
        return found

    @property
    def longest_frame(self) -> int:
        return max(len(part) for part in self.stream.split(b"\x7e\x7e")) + 2


def _capture(*corpus_ids: str, more_ids: tuple[str, ...] = (), **kwargs: Any) -> Capture:
    """The captures end to end: one reading each, from the first one's meter."""
    meter_id = expected(corpus_ids[0])["meter_id"]
    return Capture(
        b"".join(capture(corpus_id) for corpus_id in corpus_ids),
        ids=(meter_id, *more_ids),
        readings=len(corpus_ids),
        unique_id=meter_id,
        **kwargs,
    )


CAPTURES = {
    "kamstrup": _capture(KAMSTRUP_LIST1, KAMSTRUP_LIST2),
    "aidon": _capture(AIDON_LIST2, AIDON_LIST3),
    "kaifa": _capture(KAIFA_LIST2, KAIFA_LIST3),
    "landis+gyr": _capture(LANDIS_GYR_GBT),
    "kaifa encrypted": _capture(
        ENCRYPTED,
        titles=(bytes.fromhex(expected(ENCRYPTED)["gcm"]["system_title"]),),
        data={CONF_KEY: ENCRYPTED_KEY},
    ),
    "p1": _capture(P1_NL, more_ids=(P1_NL_GAS_ID,)),
    # Nothing decodes: the ids are known only from the raw text's id lines.
    "p1 bad crc": Capture(
        _bad_crc(capture(P1_NL)),
        ids=(expected(P1_NL)["meter_id"], P1_NL_GAS_ID),
        readings=0,
        unique_id=None,
    ),
}


def _visible(capture: Capture) -> list[str]:
    """Bytes around the ids that a bug report needs: each frame's header and end."""
    frames = capture.stream.split(b"\x7e\x7e") if capture.stream[:1] == b"\x7e" else []
    parts = [capture.stream[:8], capture.stream[-6:]]
    parts += [part[:8] for part in frames[1:]]
    return [part.hex().upper() for part in parts]


def _searchable(diagnostics: Any) -> str:
    """The diagnostics as JSON, plus each list of strings joined end to end.

    Raw reads shown one per list item would hide an id split over two reads from a
    plain substring search, not from a reader who puts them side by side.
    """
    joined: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            if node and all(isinstance(item, str) for item in node):
                joined.append("".join(node))
            for child in node:
                walk(child)

    walk(diagnostics)
    return "\n".join([json.dumps(diagnostics), *joined])


async def _diagnostics_after_reads(
    hass: HomeAssistant, entry: Any, stream: bytes, size: int
) -> dict[str, Any]:
    """Diagnostics of a fresh hub for `entry` after `stream` arrived in reads of `size`.

    The hub and reader are made as entry setup makes them; the reader never opens a
    port (the pty test below covers that path).
    """
    hub = MeterHub(
        hass,
        entry,
        entry.data[CONF_DEVICE],
        decoder_options(hass, dict(entry.data)),
        MeterIdentity(meter_id=entry.unique_id),
    )
    reader = MeterReader(
        entry.data[CONF_DEVICE], LineSettings(2400, "N"), hub.feed, hub.set_connected
    )
    entry.runtime_data = HanRuntimeData(hub, reader)
    try:
        for start in range(0, len(stream), size):
            hub.feed(stream[start : start + size])
        return await async_get_config_entry_diagnostics(hass, entry)
    finally:
        hub.async_shutdown()


@pytest.mark.parametrize("name", CAPTURES)
async def test_no_id_in_diagnostics_whatever_the_read_size(hass: HomeAssistant, name: str) -> None:
    """Every read size from 1 byte to the longest frame: no id survives in any form.

    A 2400-baud USB adapter returns about 20 bytes a read, so ids straddle reads; the
    stream is cut at every possible place across the sizes.
    """
    capture = CAPTURES[name]
    entry = make_entry("/dev/ttyHAN0", unique_id=capture.unique_id, **capture.data)
    entry.add_to_hass(hass)
    forms = capture.forms
    visible = _visible(capture)
    sizes = range(1, max(capture.longest_frame, 20) + 1)
    assert {1, 7, 20} <= set(sizes)
    leaks: dict[int, list[str]] = {}
    hidden: dict[int, list[str]] = {}
    for size in sizes:
        diagnostics = await _diagnostics_after_reads(hass, entry, capture.stream, size)
        text = _searchable(diagnostics)
        if found := [form for form in forms if form in text]:
            leaks[size] = found
        # The stream really went through: decoded, and shown around the ids.
        assert diagnostics["counters"]["readings"] == capture.readings, size
        assert diagnostics["counters"]["bytes_in"] == len(capture.stream)
        assert "**REDACTED**" in text
        if missing := [part for part in visible if part not in text]:
            hidden[size] = missing
    assert not leaks, f"ids in diagnostics at read sizes {sorted(leaks)}: {leaks}"
    assert not hidden, f"frame bytes missing from diagnostics: {hidden}"


@pytest.mark.parametrize("name", ["kamstrup", "kaifa encrypted", "p1"])
async def test_no_id_at_the_edges_of_the_raw_window(hass: HomeAssistant, name: str) -> None:
    """The window of raw bytes begins inside an id (older bytes were dropped) and ends
    inside one (a frame still arriving): no 6 bytes of an id are left at either edge.

    The stream is the capture repeated past the window's size, then cut at every
    offset, so both edges sweep every byte of every id.
    """
    capture = CAPTURES[name]
    entry = make_entry("/dev/ttyHAN0", unique_id=capture.unique_id, **capture.data)
    entry.add_to_hass(hass)
    ids = [meter_id.encode() for meter_id in capture.ids] + list(capture.titles)
    ids += [bytes.fromhex(meter_id) for meter_id in capture.ids if meter_id.startswith("3")]
    fragments = {secret[start : start + 6] for secret in ids for start in range(len(secret) - 5)}
    full = capture.stream * (LAST_BYTES // len(capture.stream) + 1)
    leaks: dict[int, list[bytes]] = {}
    for end in range(len(capture.stream)):
        diagnostics = await _diagnostics_after_reads(hass, entry, full + capture.stream[:end], 20)
        shown = [bytes.fromhex(part) for part in diagnostics["last_bytes"]["hex"].split(MARKER)]
        assert sum(map(len, shown)) > LAST_BYTES // 2
        if found := [fragment for fragment in fragments for part in shown if fragment in part]:
            leaks[end] = found
    assert not leaks, leaks


@pytest.mark.parametrize(("name", "size"), [("p1", 20), ("kamstrup", 7)])
async def test_no_id_in_downloaded_diagnostics_after_small_reads(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    meter: PtyMeter,
    name: str,
    size: int,
) -> None:
    """Through a pty in reads of a USB adapter's size, downloaded as a user would."""
    capture = CAPTURES[name]
    entry = await set_up(hass, make_entry(meter.path, unique_id=capture.unique_id, **capture.data))
    stats = entry.runtime_data.hub.decoder.stats
    stream = capture.stream
    for start in range(0, len(stream), size):
        end = min(start + size, len(stream))
        meter.send(stream[start:end])
        # One write, one read: the next write waits until the hub has this one.
        await until(lambda end=end: stats.bytes_in == end)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = _searchable(diagnostics)
    assert not [form for form in capture.forms if form in text]
    assert diagnostics["counters"]["readings"] == capture.readings
    assert not [part for part in _visible(capture) if part not in text]
    *reads, last = diagnostics["last_bytes"]["chunk_sizes"]
    assert reads == [size] * 7
    assert last == (len(stream) - 1) % size + 1
