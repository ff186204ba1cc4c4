"""The user's path in a real browser: add HAN Port in the HA UI, then use it for Energy.

Run by scripts/e2e (which installs Chromium, Playwright and the frontend first):

    .venv/bin/python tests/e2e/walkthrough.py [--keep]

A throwaway Home Assistant (its own config dir, loopback only) gets the integration
copied in as HACS would copy it; a simulated Aidon meter serves HDLC frames on a
local TCP port. Home Assistant is onboarded through its onboarding API, then
headless Chromium logs in, adds the integration through the config flow, checks
the device page and puts the kWh register into the Energy configuration.
Screenshots of each step go to docs/screenshots/.

Not a pytest test on purpose: it needs a browser and minutes, not seconds, and it
drives real processes; `scripts/test` stays fast and runs without it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Final

import aiohttp
from playwright.async_api import (
    BrowserContext,
    Page,
    Route,
    TimeoutError as PlaywrightTimeout,
    async_playwright,
)

REPO: Final = Path(__file__).resolve().parents[2]
SHOTS: Final = REPO / "docs" / "screenshots"
CHROMIUM: Final = "/usr/bin/chromium"
# This machine's network is closed: without the background-networking flags
# Chromium keeps trying (and failing) to reach Google's hosts at every start.
CHROMIUM_ARGS: Final = (
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT: Final = {"width": 1280, "height": 900}
TIME_ZONE: Final = "Europe/Oslo"

USER: Final = "e2e"
PASSWORD: Final = "e2e-walkthrough"  # a throwaway instance on loopback, deleted afterwards

# Aidon sends list 3 (the kWh registers) once an hour, 10 s past the hour. At 120x
# an hour of the meter's time passes in 30 s of ours, so a kWh reading comes every
# 30 s; list 1 (power) comes 48 times a second, which HA takes in its stride.
SIMULATOR_SPEED: Final = 120
BRIDGE_QUIET_SECONDS: Final = 3.0
# What scripts/e2e promises: a few minutes. Each wait below has its own bound.
HASS_START_TIMEOUT: Final = 180.0
FLOW_LISTEN_TIMEOUT: Final = 90.0  # the flow's own bound is ~12 s per line setting
VALUE_TIMEOUT: Final = 150.0
# The recorder compiles statistics every 5 minutes; a sensor created just after a
# compile's period ended waits for the next one.
STATISTICS_TIMEOUT: Final = 330.0
WALK_TIMEOUT: Final = 600.0

# The integrations the walkthrough uses, not default_config: that one pulls in
# cloud, go2rtc, stream, ssdp... whose requirements are not installed and which
# reach out to the internet. usb is there because the config flow's port picker
# lists serial ports through it, as on a real installation.
CONFIGURATION_YAML: Final = """\
# Written by tests/e2e/walkthrough.py for one run; deleted afterwards.
frontend:
config:
energy:
history:
recorder:
onboarding:
auth:
api:
websocket_api:
person:
search:
usb:
# Warnings and errors only: the log is what the walkthrough checks and prints.
logger:
  default: warning
"""

SCREENSHOT_NAMES: Final = (
    "01-add-integration.png",
    "02-config-flow-port.png",
    "03-config-flow-listening.png",
    "04-config-flow-meter-found.png",
    "05-config-flow-created.png",
    "06-device-page.png",
    "07-energy-config.png",
    "08-energy-dashboard.png",
    "09-capacity-tariff.png",
)

# Text of every node, shadow roots included (HA's frontend is web components all
# the way down, so innerText of the body sees almost nothing).
DEEP_TEXT_JS: Final = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return;
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      if (text) out.push(text);
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out.join(' | ');
}"""

# Device page rows read "<name> | <value> <unit>" in the deep text.
NUMBER: Final = r"(-?[\d,]+(?:\.\d+)?)"
DEVICE_VALUES: Final = {
    "power": re.compile(rf"Active power import \| {NUMBER} W\b"),
    "current": re.compile(rf"Current L1 \| {NUMBER} A\b"),
    "voltage": re.compile(rf"Voltage L1 \| {NUMBER} V\b"),
    "energy": re.compile(rf"Active energy import \| {NUMBER} kWh\b"),
}
# The capacity tariff's sensors a Norwegian home sees without configuring anything.
TARIFF_VALUES: Final = {
    "hour": re.compile(rf"Energy import this hour \| {NUMBER} kWh\b"),
    "average": re.compile(rf"Capacity peak average \| {NUMBER} kW\b"),
    "step": re.compile(rf"Capacity step \| {NUMBER}(?! kW)"),
    "headroom": re.compile(rf"Capacity headroom \| {NUMBER} W\b"),
}


class WalkthroughError(Exception):
    """A step failed; the message says what the user would have seen."""


def say(text: str) -> None:
    print(f"e2e: {text}", flush=True)


STARTED: Final = time.monotonic()


def lap(what: str) -> None:
    """A milestone, with the time since the walkthrough started."""
    say(f"[{time.monotonic() - STARTED:5.1f} s] {what}")


def free_port() -> int:
    """A loopback port nobody listens on (HA cannot be told to pick one itself)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ---- processes -------------------------------------------------------------------


@dataclass
class Processes:
    """Everything the walkthrough starts, stopped in reverse order whatever happens."""

    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            # A session of its own, so that stopping it also stops its children.
            process = subprocess.Popen(
                argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append((name, process))
        self._record()
        say(f"started {name} (pid {process.pid})")
        return process

    def _record(self) -> None:
        """Tell scripts/e2e which process groups are ours while they run."""
        if path := os.environ.get("HAN_PORT_E2E_PIDS"):
            running = [str(p.pid) for _, p in self.started if p.returncode is None]
            Path(path).write_text("".join(f"{pid}\n" for pid in running))

    def stop_all(self) -> None:
        for name, process in reversed(self.started):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    # HA stops in a few seconds; it gets time to close the database.
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            say(f"stopped {name} (exit {process.returncode})")
        self._record()
        self.started.clear()


# ---- the meter's network bridge ----------------------------------------------------


@contextlib.asynccontextmanager
async def slow_start_bridge(upstream_port: int) -> AsyncIterator[int]:
    """A raw TCP bridge (what ser2net is) to the simulator; yields its port.

    For BRIDGE_QUIET_SECONDS after a client connects it passes nothing on, as a
    real meter is quiet for seconds between pushes. Without that, at 120x the
    config flow's listen step ends within milliseconds, and HA's frontend, which
    subscribes to flow-progress events only once it has drawn the progress step,
    can miss the event and stay on "Listening..." for good (seen at 60x in about
    one run in eight). A real meter takes seconds, so the user never meets that race.
    """
    loop = asyncio.get_running_loop()

    async def relay(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        connected = loop.time()
        meter_reader, meter = await asyncio.open_connection("127.0.0.1", upstream_port)
        try:
            while chunk := await meter_reader.read(4096):
                if loop.time() - connected >= BRIDGE_QUIET_SECONDS:
                    client.write(chunk)
                    await client.drain()
        except ConnectionError:
            pass  # HA closed the port (the flow's listen step ends that way)
        finally:
            meter.close()
            client.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    async with server:
        port: int = server.sockets[0].getsockname()[1]
        yield port
        server.close()
        server.close_clients()


# ---- the Home Assistant instance ---------------------------------------------------


@dataclass
class Instance:
    """A throwaway HA config dir, the meter's URL and HA's address."""

    config: Path
    port: int
    simulator_port: int = 0
    meter_url: str = ""
    meter_id: str = ""
    token: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.config / "home-assistant.log"


def prepare_config(config: Path, port: int) -> None:
    """configuration.yaml, the integration as HACS installs it, HTTP on loopback."""
    (config / "configuration.yaml").write_text(CONFIGURATION_YAML)
    # HACS copies the integration's folder into custom_components/: a copy, so the
    # test sees exactly the files a user gets (no bytecode, no tests).
    shutil.copytree(
        REPO / "custom_components" / "han_port",
        config / "custom_components" / "han_port",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    # Bind to 127.0.0.1 on a free port. Since 2026.10 HTTP settings in YAML are
    # migrated into .storage/http as a *pending* trial that reverts after five
    # minutes unless confirmed; a stored config in the pre-2026.10 format (version
    # 1, what the UI's network settings wrote) is migrated into the *stable* slot
    # instead, so the server simply starts where we want it.
    storage = config / ".storage"
    storage.mkdir()
    http = {
        "version": 1,
        "key": "http",
        "data": {"server_host": ["127.0.0.1"], "server_port": port},
    }
    (storage / "http").write_text(json.dumps(http))


async def start_meter(processes: Processes, instance: Instance) -> None:
    """The simulated meter on a port the OS picks; its first stderr line names it."""
    log = instance.config / "simulator.log"
    process = processes.start(
        "simulated meter",
        [
            sys.executable,
            "-m",
            "devtools",
            "simulate",
            "aidon",
            "--tcp",
            "0",
            "--speed",
            str(SIMULATOR_SPEED),
        ],
        log,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if match := re.search(r"meter (\d+) on tcp://127\.0\.0\.1:(\d+)", log.read_text()):
            instance.meter_id = match.group(1)
            instance.simulator_port = int(match.group(2))
            say(f"meter {instance.meter_id} on port {instance.simulator_port}, {SIMULATOR_SPEED}x")
            return
        if process.poll() is not None:
            break
        await asyncio.sleep(0.2)
    raise WalkthroughError(f"the simulator did not start: {log.read_text()[-2000:]}")


async def start_hass(
    processes: Processes, instance: Instance, session: aiohttp.ClientSession
) -> None:
    hass = str(Path(sys.executable).with_name("hass"))
    # --skip-pip: HA must not pip-install anything (that would reach PyPI); what
    # it needs is installed by scripts/e2e, and a missing package fails the run.
    process = processes.start(
        "home assistant",
        [hass, "-c", str(instance.config), "--skip-pip", "--log-no-color"],
        instance.config / "console.log",
    )
    deadline = time.monotonic() + HASS_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WalkthroughError(f"Home Assistant exited with {process.returncode}")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(f"{instance.base}/api/onboarding") as response:
                if response.status == 200:
                    say(f"Home Assistant answers at {instance.base}")
                    return
        await asyncio.sleep(0.5)
    raise WalkthroughError(f"Home Assistant did not answer within {HASS_START_TIMEOUT:.0f} s")


async def onboard(instance: Instance, session: aiohttp.ClientSession) -> None:
    """The onboarding wizard's four steps through its API; keeps an access token."""
    client_id = f"{instance.base}/"
    async with session.post(
        f"{instance.base}/api/onboarding/users",
        json={
            "client_id": client_id,
            "name": "E2E",
            "username": USER,
            "password": PASSWORD,
            "language": "en",
        },
    ) as response:
        auth_code = (await expect_json(response, "create the owner"))["auth_code"]
    async with session.post(
        f"{instance.base}/auth/token",
        data={"grant_type": "authorization_code", "code": auth_code, "client_id": client_id},
    ) as response:
        instance.token = (await expect_json(response, "get a token"))["access_token"]
    headers = {"Authorization": f"Bearer {instance.token}"}
    for step, body in (
        ("core_config", {}),
        ("analytics", {}),
        ("integration", {"client_id": client_id, "redirect_uri": f"{client_id}?auth_callback=1"}),
    ):
        async with session.post(
            f"{instance.base}/api/onboarding/{step}", json=body, headers=headers
        ) as response:
            await expect_json(response, f"finish onboarding step {step}")
    say("onboarded")


async def expect_json(response: aiohttp.ClientResponse, doing: str) -> Any:
    if response.status != 200:
        raise WalkthroughError(f"could not {doing}: HTTP {response.status} {await response.text()}")
    return await response.json()


@contextlib.asynccontextmanager
async def websocket(
    instance: Instance, session: aiohttp.ClientSession
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """HA's websocket API as `call(type, **fields) -> result`."""
    async with session.ws_connect(f"{instance.base}/api/websocket") as ws:
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": instance.token})
        if (reply := await ws.receive_json())["type"] != "auth_ok":
            raise WalkthroughError(f"websocket auth failed: {reply}")
        ids = iter(range(1, 1_000_000))

        async def call(kind: str, **fields: Any) -> Any:
            message_id = next(ids)
            await ws.send_json({"id": message_id, "type": kind, **fields})
            while (reply := await ws.receive_json())["id"] != message_id:
                pass
            if not reply["success"]:
                raise WalkthroughError(f"{kind} failed: {reply['error']}")
            return reply["result"]

        yield call


async def drop_failed_onboarding_entries(
    call: Callable[..., Awaitable[Any]], instance: Instance, session: aiohttp.ClientSession
) -> None:
    """Remove what onboarding added that cannot work offline.

    Finishing onboarding adds Google Translate, Radio Browser, Met and Shopping
    list. Without internet (and with --skip-pip) the first ones fail to set up and
    would show as red cards on the integrations page; they have nothing to do with
    the integration under test.
    """
    deadline = time.monotonic() + 15
    while True:
        entries = await call("config_entries/get")
        busy = [e for e in entries if e["state"] in ("not_loaded", "setup_in_progress")]
        if not busy or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    for entry in entries:
        if entry["state"] in ("setup_error", "setup_retry", "migration_error"):
            async with session.delete(
                f"{instance.base}/api/config/config_entries/entry/{entry['entry_id']}",
                headers={"Authorization": f"Bearer {instance.token}"},
            ) as response:
                await expect_json(response, f"remove the {entry['domain']} entry")
            say(f"removed onboarding's {entry['domain']} entry ({entry['state']}: offline)")


# ---- the browser -------------------------------------------------------------------


@dataclass
class Browser:
    """The page, and what the browser tried to do that it should not have."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    async def shot(self, name: str, *, full_page: bool = False) -> None:
        assert name in SCREENSHOT_NAMES
        await self.page.screenshot(path=SHOTS / name, full_page=full_page)
        say(f"screenshot docs/screenshots/{name}")

    async def shot_element(self, name: str, holding: str) -> None:
        """A screenshot of the card that holds the text `holding`."""
        assert name in SCREENSHOT_NAMES
        card = self.page.locator("ha-card").filter(has_text=holding).last
        await card.scroll_into_view_if_needed()
        await card.screenshot(path=SHOTS / name)
        say(f"screenshot docs/screenshots/{name}")

    async def text(self) -> str:
        text: str = await self.page.evaluate(DEEP_TEXT_JS)
        return text


@contextlib.asynccontextmanager
async def browser(instance: Instance) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        profile = tempfile.mkdtemp(prefix="han-port-e2e-chromium-")
        context: BrowserContext | None = None
        try:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=list(CHROMIUM_ARGS),
                headless=True,
                viewport=VIEWPORT,  # type: ignore[arg-type]
                locale="en-US",
                timezone_id=TIME_ZONE,
            )
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(30_000)
            result = Browser(page)

            async def only_loopback(route: Route) -> None:
                # Loopback only: whatever else the frontend asks for (brand icons,
                # documentation links) is refused here, not on the closed network.
                url = route.request.url
                if url.startswith((instance.base, "data:", "blob:")):
                    await route.continue_()
                else:
                    result.blocked.append(url)
                    await route.abort()

            await context.route("**/*", only_loopback)
            page.on(
                "console",
                lambda message: (
                    result.console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            try:
                yield result
            except BaseException:
                # What the page showed when a step failed, for the report.
                with contextlib.suppress(Exception):
                    await page.screenshot(path=instance.config / "failure.png", full_page=True)
                    say(f"page at failure: {instance.config / 'failure.png'} ({page.url})")
                raise
        finally:
            if context is not None:
                await context.close()
            shutil.rmtree(profile, ignore_errors=True)


async def log_in(b: Browser, instance: Instance) -> None:
    page = b.page
    await page.goto(f"{instance.base}/")
    await page.get_by_role("textbox", name="Username").fill(USER)
    await page.get_by_role("textbox", name="Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(re.compile(r"/(home|lovelace)"))
    say("logged in through the login form")


async def add_integration(
    b: Browser, instance: Instance, call: Callable[..., Awaitable[Any]]
) -> None:
    """Settings > Devices & services > Add integration > HAN Port > socket:// URL."""
    page = b.page
    await page.goto(f"{instance.base}/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    await page.get_by_placeholder("Search for a brand name").fill("HAN Port")
    await page.get_by_text("HAN Port", exact=True).wait_for()
    await b.shot("01-add-integration.png")
    await page.get_by_text("HAN Port", exact=True).click()

    # The user step: a port picker fed by the usb integration; a network bridge is
    # typed in through its "Enter manually" entry.
    await page.get_by_text("Connect to the meter's HAN port").wait_for()
    await page.locator("ha-selector-serial_port ha-generic-picker").click()
    await page.get_by_text("Enter manually").click()
    await page.locator("ha-selector-serial_port ha-input input").fill(instance.meter_url)
    await b.shot("02-config-flow-port.png")
    await page.get_by_role("button", name="Submit").click()

    # The listen step lasts until the meter names itself (list 2): the bridge's
    # quiet seconds, then a fraction of a second at 120x.
    await page.get_by_text("Listening on").wait_for(timeout=10_000)
    await b.shot("03-config-flow-listening.png")
    try:
        await page.get_by_text("Meter found").wait_for(timeout=FLOW_LISTEN_TIMEOUT * 1000)
    except PlaywrightTimeout:
        # Where the flow really is, to tell a stuck flow from a stuck dialog.
        flows = [
            f"{flow['handler']} at step {flow.get('step_id')}"
            for flow in await call("config_entries/flow/progress")
        ]
        raise WalkthroughError(
            f"the config flow did not reach 'Meter found'; the dialog shows: "
            f"{dialog_text(await b.text())}; flows in HA: {flows}"
        ) from None
    text = await b.text()
    if "Aidon" not in text or instance.meter_id not in text:
        raise WalkthroughError(f"the confirm step does not name the meter: {dialog_text(text)}")
    await b.shot("04-config-flow-meter-found.png")
    await page.get_by_role("button", name="Submit").click()

    # Success: HA asks to name the new device and put it in an area.
    finish = page.get_by_role("button", name=re.compile("finish", re.IGNORECASE))
    try:
        await finish.wait_for()
    except PlaywrightTimeout:
        raise WalkthroughError(
            f"no entry was created; the dialog shows: {dialog_text(await b.text())}"
        ) from None
    await b.shot("05-config-flow-created.png")
    await finish.click()
    say("config entry created through the UI")


def dialog_text(text: str) -> str:
    """The part of the page text that belongs to the open dialog (after the page's)."""
    marker = "Add integration | "
    return text[text.rfind(marker) + len(marker) :][-1500:] if marker in text else text[-1500:]


async def open_device_page(b: Browser, instance: Instance) -> None:
    """Integration page > the entry's device, as a user would click through."""
    page = b.page
    await page.goto(f"{instance.base}/config/integrations/integration/han_port")
    await page.get_by_text("1 device").first.click()
    await page.wait_for_url(re.compile(r"/config/devices/device/"))
    await page.get_by_text("Sensors", exact=True).wait_for()


async def read_device_values(
    b: Browser,
    need: set[str],
    within: float,
    patterns: dict[str, re.Pattern[str]] = DEVICE_VALUES,
) -> dict[str, float]:
    """Wait until the device page shows every value in `need`; return what it shows."""
    deadline = time.monotonic() + within
    while True:
        text = await b.text()
        values = {
            name: float(match.group(1).replace(",", ""))
            for name, pattern in patterns.items()
            if (match := pattern.search(text))
        }
        if need <= values.keys():
            return values
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(need - values.keys()))
            sensors = text[text.find("Sensors") :][:1500]
            raise WalkthroughError(f"the device page does not show {missing}: {sensors}")
        await asyncio.sleep(1)


async def configure_energy(b: Browser, instance: Instance) -> None:
    """Settings > Dashboards > Energy: the kWh register as the grid import."""
    page = b.page
    await page.goto(f"{instance.base}/config/energy")
    await page.get_by_role("button", name="Add grid connection").click()
    await page.get_by_text("Configure grid connection").wait_for()
    await page.get_by_text("Select a statistic").first.click()
    # The open picker lists every kWh statistic; its rows are ha-combo-box-item
    # elements without an ARIA role. (No typing: a keystroke that misses the
    # picker's search field is one of the frontend's shortcuts, "a" opens Assist.)
    # The sensor, not HAN Port's hourly statistic of the same register: that one gets
    # its first row only after two whole hours of Home Assistant's clock, which the
    # 120x simulated meter cannot shorten.
    await (
        page.locator("ha-combo-box-item", has_text="Active energy import")
        .filter(has_not_text="(hourly)")
        .first.click()
    )
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("Configure grid connection").wait_for(state="hidden")
    await page.get_by_text("Active energy import").first.wait_for()
    say("Active energy import is now the grid import in the Energy configuration")


async def assert_no_alerts(b: Browser, where: str) -> None:
    """The Energy pages show validation problems as warning/error alerts."""
    alerts = b.page.locator("ha-alert[alert-type='warning'], ha-alert[alert-type='error']")
    if count := await alerts.count():
        texts = [await alerts.nth(i).inner_text() for i in range(count)]
        raise WalkthroughError(f"{where} shows {count} warning(s): {texts}")


async def wait_energy_valid(call: Callable[..., Awaitable[Any]], entity_id: str) -> None:
    """Wait until energy/validate has nothing to say about the grid import.

    A sensor gets statistics metadata when the recorder first compiles statistics
    (every five minutes, 10 s past); until then HA reports "statistics_not_defined",
    as it does for every new sensor. That compile is also where a wrong unit or
    state class would show, so it is waited for rather than ignored.
    """
    prefs = await call("energy/get_prefs")
    sources = prefs["energy_sources"]
    grid = [s for s in sources if s["type"] == "grid" and s.get("stat_energy_from") == entity_id]
    if not grid:
        raise WalkthroughError(f"{entity_id} is not the grid import in energy prefs: {sources}")
    deadline = time.monotonic() + STATISTICS_TIMEOUT
    while True:
        validation = await call("energy/validate")
        issues = [
            issue for group in validation.values() for issues in group for issue in issues if issue
        ]
        pending = all(issue["type"] == "statistics_not_defined" for issue in issues)
        if not issues:
            break
        if not pending or time.monotonic() > deadline:
            raise WalkthroughError(f"energy/validate reports: {json.dumps(issues)}")
        await asyncio.sleep(5)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    rows = (
        await call(
            "recorder/statistics_during_period",
            start_time=since,
            statistic_ids=[entity_id],
            period="5minute",
            types=["state", "sum"],
        )
    ).get(entity_id, [])
    sums = [round(row["sum"], 2) for row in rows]
    say(f"energy/validate: no issues; {entity_id} 5-minute statistics, sum: {sums} kWh")


async def energy_entity(call: Callable[..., Awaitable[Any]]) -> str:
    """The entity id of the meter's import register, from the entity registry."""
    for entity in await call("config/entity_registry/list"):
        if entity["platform"] == "han_port" and entity["unique_id"].endswith("_1.8.0"):
            entity_id: str = entity["entity_id"]
            return entity_id
    raise WalkthroughError("no han_port entity for 1.8.0 (active energy import)")


# ---- the walk ----------------------------------------------------------------------


async def walk(processes: Processes, instance: Instance) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await start_meter(processes, instance)
        async with slow_start_bridge(instance.simulator_port) as bridge_port:
            instance.meter_url = f"socket://127.0.0.1:{bridge_port}"
            await start_hass(processes, instance, session)
            lap("Home Assistant is up")
            await onboard(instance, session)
            async with websocket(instance, session) as call, browser(instance) as b:
                await drop_failed_onboarding_entries(call, instance, session)
                # What the onboarding wizard's location step sets, for a Norwegian
                # home (Aidon is a Norwegian meter); an unset country is a repair.
                await call(
                    "config/core/update",
                    country="NO",
                    currency="NOK",
                    time_zone=TIME_ZONE,
                    unit_system="metric",
                )
                await walk_browser(b, instance, call)
                await check_repairs(call)
            # While the meter still sends: closing the bridge makes HA log, rightly,
            # that the meter went away.
            check_log(instance)


async def walk_browser(b: Browser, instance: Instance, call: Callable[..., Awaitable[Any]]) -> None:
    await log_in(b, instance)
    await add_integration(b, instance, call)
    lap("integration added")

    await open_device_page(b, instance)
    first = await read_device_values(b, set(DEVICE_VALUES), VALUE_TIMEOUT)
    await b.shot("06-device-page.png", full_page=True)
    lap(f"device page shows {first}")

    entity_id = await energy_entity(call)
    await configure_energy(b, instance)

    # Live updates: without reloading, the device page's power changes and the kWh
    # register moves on with the next hourly list.
    await open_device_page(b, instance)
    deadline = time.monotonic() + VALUE_TIMEOUT
    while True:
        now = await read_device_values(b, set(DEVICE_VALUES), VALUE_TIMEOUT)
        if now["power"] != first["power"] and now["energy"] > first["energy"]:
            break
        if time.monotonic() > deadline:
            raise WalkthroughError(
                f"values did not change in {VALUE_TIMEOUT:.0f} s: first {first}, now {now}"
            )
        await asyncio.sleep(1)
    lap(f"values moved on: {now}")

    # Norway: the capacity tariff's sensors are on the device without any setting;
    # the hour's energy is written once a minute, so it shows once a minute has passed.
    deadline = time.monotonic() + VALUE_TIMEOUT
    while (tariff := await read_device_values(b, set(TARIFF_VALUES), VALUE_TIMEOUT, TARIFF_VALUES))[
        "hour"
    ] <= 0:
        if time.monotonic() > deadline:
            raise WalkthroughError(f"the hour's energy stayed 0 for {VALUE_TIMEOUT:.0f} s")
        await asyncio.sleep(1)
    await b.shot_element("09-capacity-tariff.png", "Capacity headroom")
    lap(f"capacity tariff shows {tariff}")

    await wait_energy_valid(call, entity_id)
    lap("statistics compiled, energy/validate has no issues")
    page = b.page
    await page.goto(f"{instance.base}/config/energy")
    await page.get_by_text("Active energy import").first.wait_for()
    await assert_no_alerts(b, "the Energy configuration")
    await b.shot("07-energy-config.png", full_page=True)
    await page.goto(f"{instance.base}/energy")
    await page.get_by_text("Electricity").first.wait_for()
    # The cards load statistics after the page itself; give them a moment.
    await page.wait_for_timeout(3_000)
    await assert_no_alerts(b, "the Energy dashboard")
    await b.shot("08-energy-dashboard.png")
    lap("Energy configuration and dashboard show no warning")
    if b.blocked:
        say(f"refused {len(b.blocked)} non-loopback request(s): {b.blocked[:5]}")


async def bounded(walking: Awaitable[None]) -> None:
    """The whole walk, cut off if a wait nobody bounded hangs."""
    try:
        async with asyncio.timeout(WALK_TIMEOUT):
            await walking
    except TimeoutError:
        raise WalkthroughError(f"the walk took more than {WALK_TIMEOUT:.0f} s") from None


# HA's log line: "2026-11-26 07:31:02.155 WARNING (MainThread) [logger] message".
_OWN_WARNING: Final = re.compile(r" (WARNING|ERROR|CRITICAL) \(.*?\) \[custom_components\.han_port")


def check_log(instance: Instance) -> None:
    """The integration logged no warning or error, and no traceback passed through it.

    Other integrations' errors (ffmpeg missing, Google Translate offline) are this
    sandbox's, not ours, and are left alone.
    """
    bad = [
        line
        for line in instance.log.read_text(errors="replace").splitlines()
        if _OWN_WARNING.search(line)
        or (" ERROR " in line and "han_port" in line)
        or "custom_components/han_port/" in line  # a traceback frame
    ]
    if bad:
        raise WalkthroughError("the integration logged problems:\n" + "\n".join(bad[:20]))


async def check_repairs(call: Callable[..., Awaitable[Any]]) -> None:
    """No repair issue from the integration (a working meter raises none)."""
    issues = (await call("repairs/list_issues"))["issues"]
    ours = [issue for issue in issues if issue["domain"] == "han_port"]
    if ours:
        raise WalkthroughError(f"HAN Port raised repair issues: {ours}")
    others = [f"{issue['domain']}.{issue['issue_id']}" for issue in issues]
    say(f"repair issues: none from han_port; others: {others or 'none'}")


def own_lines(path: Path, lines: int = 20) -> str:
    """The log lines that mention the integration (the tail is mostly other noise)."""
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join([line for line in text if "han_port" in line][-lines:]) or "(none)"


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--keep", action="store_true", help="keep the config dir (it is kept on failure anyway)"
    )
    args = parser.parse_args()

    if not Path(CHROMIUM).exists():
        say(f"{CHROMIUM} is missing: run scripts/e2e, which installs it")
        return 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in SCREENSHOT_NAMES:
        # A screenshot left from an earlier run must not pass for this run's.
        (SHOTS / name).unlink(missing_ok=True)

    config = Path(tempfile.mkdtemp(prefix="han-port-e2e-"))
    instance = Instance(config, free_port())
    prepare_config(config, instance.port)
    processes = Processes()
    # SIGTERM (CI timeout, scripts/e2e's trap) must still stop what we started:
    # handled like Ctrl-C, which asyncio.run turns into cancelling the walk.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    ok = False
    try:
        asyncio.run(bounded(walk(processes, instance)))
        ok = True
    except WalkthroughError as err:
        say(f"FAILED: {err}")
    except PlaywrightTimeout as err:
        say(f"FAILED: the page did not show what was expected: {err}")
    except KeyboardInterrupt:
        say("FAILED: interrupted")
    finally:
        processes.stop_all()
        if not ok:
            say(f"--- HAN Port's lines in {instance.log}:\n{own_lines(instance.log)}")
            say(f"--- last lines of {instance.log}:\n{log_tail(instance.log)}")
            say(f"--- simulator:\n{log_tail(config / 'simulator.log', 10)}")
        if ok and not args.keep:
            shutil.rmtree(config, ignore_errors=True)
        else:
            say(f"config dir kept: {config}")
    say(f"{'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    # The plain closing line CI reads after the pytest run's own.
    print(f"e2e: {int(ok)} passed, {int(not ok)} failed", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
