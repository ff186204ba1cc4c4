"""The user's path in a real browser: add HAN Port in the HA UI, then use it for Energy.

Run by scripts/e2e (which installs Chromium, Playwright and the frontend first):

    .venv/bin/python tests/e2e/walkthrough.py [--keep]

A throwaway Home Assistant (its own config dir, loopback only) gets the integration
copied in as HACS would copy it; a simulated Aidon meter serves HDLC frames on a
local TCP port. Home Assistant is onboarded through its onboarding API, then
headless Chromium logs in, adds the integration through the config flow, checks
the device page, names a price sensor in the options and puts HAN Port's hourly
energy and cost statistics into the Energy configuration. Home Assistant is then
started again under libfaketime on the meter's clock (60x ours), so that whole hours
of statistics arrive in minutes, and the Energy dashboard shows them.
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
from datetime import UTC, datetime, timedelta
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

# Aidon sends list 3 (the kWh registers) once an hour, 10 s past the hour. At 60x
# an hour of the meter's time passes in a minute of ours, so a kWh reading comes
# every minute; list 1 (power) comes 24 times a second, which HA takes in its stride.
# Home Assistant's fast clock (below) is the meter's clock.
SIMULATOR_SPEED: Final = 60
BRIDGE_QUIET_SECONDS: Final = 3.0
# What scripts/e2e promises: a few minutes. Each wait below has its own bound.
HASS_START_TIMEOUT: Final = 180.0
FLOW_LISTEN_TIMEOUT: Final = 90.0  # the flow's own bound is ~12 s per line setting
VALUE_TIMEOUT: Final = 150.0
# The recorder compiles statistics every 5 minutes; a sensor created just after a
# compile's period ended waits for the next one.
WALK_TIMEOUT: Final = 600.0
CALL_TIMEOUT: Final = 60.0  # one websocket command's answer

# HAN Port's hourly statistics get a row per hour of Home Assistant's clock, so for
# the second part of the walk Home Assistant is started again under libfaketime
# (Debian's faketime package) on the simulated meter's clock, which runs 60 times
# faster than ours: an hour passes in a minute. Chromium and Playwright keep the
# real clock. The meter is not restarted: its registers and its clock go on.
FAKETIME_LIB: Final = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
HOURLY_ROWS: Final = 2  # whole hours with energy and cost, shown as bars
HOURLY_TIMEOUT: Final = 300.0  # of our clock: five hours of the meter's
VALIDATE_TIMEOUT: Final = 60.0
PRICE_ENTITY: Final = "sensor.electricity_price"

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
# The spot price the hourly cost statistic is priced at: a new price every hour.
template:
  - sensor:
      - name: Electricity price
        unique_id: e2e_electricity_price
        unit_of_measurement: NOK/kWh
        state: "{{ [1.12, 0.86, 1.47, 0.64][now().hour % 4] }}"
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

    def start(
        self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            # A session of its own, so that stopping it also stops its children.
            process = subprocess.Popen(
                argv,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
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
            self._stop(name, process)
        self._record()
        self.started.clear()

    def stop(self, name: str) -> None:
        """Stop the one started as `name`, to start it again."""
        for started in [s for s in self.started if s[0] == name]:
            self._stop(*started)
            self.started.remove(started)
        self._record()

    @staticmethod
    def _stop(name: str, process: subprocess.Popen[bytes]) -> None:
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


# ---- the meter's network bridge ----------------------------------------------------


@dataclass
class Bridge:
    """The bridge's port; `quiet` seconds of silence for each new client."""

    port: int = 0
    quiet: float = BRIDGE_QUIET_SECONDS


@contextlib.asynccontextmanager
async def slow_start_bridge(instance: Instance) -> AsyncIterator[Bridge]:
    """A raw TCP bridge (what ser2net is) to the simulator; yields its port.

    For BRIDGE_QUIET_SECONDS after a client connects it passes nothing on, as a
    real meter is quiet for seconds between pushes. Without that, at 120x the
    config flow's listen step ends within milliseconds, and HA's frontend, which
    subscribes to flow-progress events only once it has drawn the progress step,
    can miss the event and stay on "Listening..." for good (seen at 60x in about
    one run in eight). A real meter takes seconds, so the user never meets that race.
    The upstream is the simulator running when a client connects (it is restarted on
    the fast clock).
    """
    loop = asyncio.get_running_loop()
    bridge = Bridge()
    relays: set[asyncio.Task[Any]] = set()

    async def relay(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        if (task := asyncio.current_task()) is not None:
            relays.add(task)
            task.add_done_callback(relays.discard)
        connected = loop.time()
        quiet = bridge.quiet
        meter_reader, meter = await asyncio.open_connection("127.0.0.1", instance.simulator_port)
        try:
            while chunk := await meter_reader.read(4096):
                if loop.time() - connected >= quiet:
                    client.write(chunk)
                    await client.drain()
        except ConnectionError:
            pass  # HA closed the port (the flow's listen step ends that way)
        finally:
            meter.close()
            client.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    async with server:
        bridge.port = server.sockets[0].getsockname()[1]
        try:
            yield bridge
        finally:
            # Also when the walk failed: no relay outlives the bridge.
            server.close()
            server.close_clients()
            for task in list(relays):
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)


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
    entry_id: str = ""
    meter_clock: FastClock | None = None

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
    """The simulated meter on a port the OS picks; its first stderr line names it.

    The meter's clock starts at ours when it starts serving (that line) and runs
    SIMULATOR_SPEED times faster; `instance.meter_clock` follows it.
    """
    log = instance.config / "simulator.log"
    argv = [sys.executable, "-m", "devtools", "simulate", "aidon", "--tcp", "0"]
    argv += ["--speed", str(SIMULATOR_SPEED)]
    process = processes.start("simulated meter", argv, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if match := re.search(r"meter (\d+) on tcp://127\.0\.0\.1:(\d+)", log.read_text()):
            # Seen within 0.1 s of the line: the meter's clock is known to within
            # 6 s of its own, far inside what HAN Port's accounting tolerates.
            began = time.time() - 0.05
            instance.meter_clock = FastClock(datetime.fromtimestamp(began, UTC), began)
            instance.meter_id = match.group(1)
            instance.simulator_port = int(match.group(2))
            say(f"meter {instance.meter_id} on port {instance.simulator_port}, {SIMULATOR_SPEED}x")
            return
        if process.poll() is not None:
            break
        await asyncio.sleep(0.1)
    raise WalkthroughError(f"the simulator did not start: {log.read_text()[-2000:]}")


async def start_hass(
    processes: Processes,
    instance: Instance,
    session: aiohttp.ClientSession,
    clock: FastClock | None = None,
) -> None:
    """Home Assistant, on the real clock or on `clock`; returns when HTTP answers."""
    hass = str(Path(sys.executable).with_name("hass"))
    # --skip-pip: HA must not pip-install anything (that would reach PyPI); what
    # it needs is installed by scripts/e2e, and a missing package fails the run.
    process = processes.start(
        "home assistant",
        [hass, "-c", str(instance.config), "--skip-pip", "--log-no-color"],
        instance.config / ("console.log" if clock is None else "console-fast.log"),
        None if clock is None else clock.environment(),
    )
    deadline = time.monotonic() + HASS_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WalkthroughError(f"Home Assistant exited with {process.returncode}")
        # The onboarding API answers before onboarding; afterwards only with a token.
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(
                f"{instance.base}/api/{'' if instance.token else 'onboarding'}",
                headers={"Authorization": f"Bearer {instance.token}"} if instance.token else {},
            ) as response:
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
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    while (reply := await ws.receive_json())["id"] != message_id:
                        pass
            except TimeoutError:
                raise WalkthroughError(f"{kind}: no answer in {CALL_TIMEOUT:.0f} s") from None
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


async def add_integration(b: Browser, instance: Instance, session: aiohttp.ClientSession) -> None:
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
        async with websocket(instance, session) as call:
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
    """Settings > Dashboards > Energy: HAN Port's hourly statistic as the grid import."""
    page = b.page
    await page.goto(f"{instance.base}/config/energy")
    await page.get_by_role("button", name="Add grid connection").click()
    await page.get_by_text("Configure grid connection").wait_for()
    await page.get_by_text("Select a statistic").first.click()
    # The open picker lists every kWh statistic; its rows are ha-combo-box-item
    # elements without an ARIA role. (No typing: a keystroke that misses the
    # picker's search field is one of the frontend's shortcuts, "a" opens Assist.)
    # HAN Port's hourly statistic (its metadata is there from the first reading on),
    # not the sensor of the same register, whose statistics book each hour an hour late.
    await (
        page.locator("ha-combo-box-item", has_text="Active energy import")
        .filter(has_text="(hourly)")
        .first.click()
    )
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("Configure grid connection").wait_for(state="hidden")
    await page.get_by_text("Active energy import (hourly)").first.wait_for()
    say("Active energy import (hourly) is now the grid import in the Energy configuration")


async def assert_no_alerts(b: Browser, where: str) -> None:
    """The Energy pages show validation problems as warning/error alerts."""
    alerts = b.page.locator("ha-alert[alert-type='warning'], ha-alert[alert-type='error']")
    if count := await alerts.count():
        texts = [await alerts.nth(i).inner_text() for i in range(count)]
        raise WalkthroughError(f"{where} shows {count} warning(s): {texts}")


async def energy_entity(call: Callable[..., Awaitable[Any]]) -> str:
    """The entity id of the meter's import register, from the entity registry."""
    for entity in await call("config/entity_registry/list"):
        if entity["platform"] == "han_port" and entity["unique_id"].endswith("_1.8.0"):
            entity_id: str = entity["entity_id"]
            return entity_id
    raise WalkthroughError("no han_port entity for 1.8.0 (active energy import)")


# ---- hourly statistics on a fast clock ---------------------------------------------


@dataclass
class FastClock:
    """The meter's clock: `start` when ours read `began`, SIMULATOR_SPEED times ours."""

    start: datetime
    began: float

    def now(self) -> datetime:
        return self.start + timedelta(seconds=SIMULATOR_SPEED * (time.time() - self.began))

    def environment(self) -> dict[str, str]:
        """The environment that starts a process on this clock, now.

        libfaketime counts "@<time> xN" from the process's own start, so each process
        gets the clock's time at its start; they agree to within a second.
        """
        return {
            **os.environ,
            "LD_PRELOAD": FAKETIME_LIB,
            "FAKETIME": f"@{self.now():%Y-%m-%d %H:%M:%S} x{SIMULATOR_SPEED}",
            "TZ": "UTC",  # how libfaketime reads the time above; HA keeps its own zone
        }


def hourly_id(instance: Instance, suffix: str) -> str:
    """HAN Port's statistic id (hourly.py's statistic_id) for the entry."""
    return f"han_port:{instance.entry_id.lower()}_{suffix}"


async def set_price_option(
    call: Callable[..., Awaitable[Any]], instance: Instance, session: aiohttp.ClientSession
) -> None:
    """HAN Port's options name the price sensor that prices the hourly import."""
    entries = [e for e in await call("config_entries/get") if e["domain"] == "han_port"]
    if len(entries) != 1:
        raise WalkthroughError(f"expected one han_port entry, found {entries}")
    instance.entry_id = entries[0]["entry_id"]
    headers = {"Authorization": f"Bearer {instance.token}"}
    flows = f"{instance.base}/api/config/config_entries/options/flow"
    async with session.post(
        flows, json={"handler": instance.entry_id}, headers=headers
    ) as response:
        flow = await expect_json(response, "open HAN Port's options")
    async with session.post(
        f"{flows}/{flow['flow_id']}", json={"import_price_entity": PRICE_ENTITY}, headers=headers
    ) as response:
        result = await expect_json(response, "save HAN Port's options")
    if result["type"] != "create_entry":
        raise WalkthroughError(f"the options were not saved: {result}")
    # The options reload the entry; wait until it is back.
    deadline = time.monotonic() + 30
    while True:
        await asyncio.sleep(1)
        states = {e["entry_id"]: e["state"] for e in await call("config_entries/get")}
        if states.get(instance.entry_id) == "loaded":
            break
        if time.monotonic() > deadline:
            raise WalkthroughError(f"the entry did not load again: {states}")
    say(f"HAN Port's options name {PRICE_ENTITY} as the import price")


async def add_energy_cost(call: Callable[..., Awaitable[Any]], instance: Instance) -> None:
    """The grid import's cost: HAN Port's hourly cost statistic."""
    energy_id = hourly_id(instance, "energy_import")
    prefs = await call("energy/get_prefs")
    sources = prefs["energy_sources"]
    grid = [s for s in sources if s["type"] == "grid" and s.get("stat_energy_from") == energy_id]
    if not grid:
        raise WalkthroughError(f"{energy_id} is not the grid import in energy prefs: {sources}")
    grid[0].update(
        stat_cost=hourly_id(instance, "energy_import_cost"),
        entity_energy_price=None,
        number_energy_price=None,
    )
    await call("energy/save_prefs", energy_sources=sources)
    say(f"the grid import's cost is {grid[0]['stat_cost']}")


async def prepare_fast_clock(call: Callable[..., Awaitable[Any]], instance: Instance) -> None:
    """A token that outlives the fast clock.

    An access token lasts 30 minutes of Home Assistant's clock, half a minute of ours
    on the fast clock; a long-lived one does not run out.
    """
    instance.token = await call(
        "auth/long_lived_access_token", client_name="HAN Port e2e", lifespan=1
    )


async def restart_on_fast_clock(
    processes: Processes,
    instance: Instance,
    session: aiohttp.ClientSession,
    bridge: Bridge,
    b: Browser,
) -> FastClock:
    """Home Assistant again, on the meter's clock (an hour or so ahead of ours)."""
    # The open page would reconnect to the new Home Assistant with an access token that
    # the fast clock expired at once, and log out.
    await b.page.goto("about:blank")
    await asyncio.to_thread(processes.stop, "home assistant")
    # No config flow races the meter any more; a quiet bridge would only look like a
    # silent meter to the running integration.
    bridge.quiet = 0.0
    clock = instance.meter_clock
    assert clock is not None
    await start_hass(processes, instance, session, clock)
    lap(f"Home Assistant is up again, {SIMULATOR_SPEED}x fast, at {clock.now():%H:%M} UTC")
    return clock


async def wait_hourly_rows(
    instance: Instance, session: aiohttp.ClientSession, clock: FastClock
) -> dict[str, list[dict[str, Any]]]:
    """Wait until HOURLY_ROWS whole hours have energy and cost rows."""
    ids = [hourly_id(instance, "energy_import"), hourly_id(instance, "energy_import_cost")]
    since = clock.start.replace(minute=0, second=0) - timedelta(hours=1)
    deadline = time.monotonic() + HOURLY_TIMEOUT
    while True:
        # A connection per poll: Home Assistant pings every 55 s of its clock, and a
        # connection nobody reads from between polls would miss the pong.
        async with websocket(instance, session) as call:
            found = await call(
                "recorder/statistics_during_period",
                start_time=since.isoformat(),
                statistic_ids=ids,
                period="hour",
                types=["change", "sum"],
            )
        rows = {stat: found.get(stat, []) for stat in ids}
        energy = [row for row in rows[ids[0]] if (row.get("change") or 0) > 0]
        if len(energy) >= HOURLY_ROWS and len(rows[ids[1]]) >= HOURLY_ROWS:
            return rows
        if time.monotonic() > deadline:
            raise WalkthroughError(
                f"no {HOURLY_ROWS} hourly rows in {HOURLY_TIMEOUT:.0f} s "
                f"(Home Assistant's clock: {clock.now():%H:%M} UTC): {rows}"
            )
        await asyncio.sleep(2)


def describe_rows(rows: list[dict[str, Any]], unit: str) -> str:
    return ", ".join(
        f"{datetime.fromtimestamp(row['start'] / 1000, UTC):%H:%M} {row['change']:.3f} {unit}"
        for row in rows
        if row.get("change") is not None
    )


async def wait_energy_valid(
    instance: Instance, session: aiohttp.ClientSession, energy_id: str
) -> None:
    """energy/validate has nothing to say about the grid import or its cost."""
    deadline = time.monotonic() + VALIDATE_TIMEOUT
    while True:
        async with websocket(instance, session) as call:
            sources = (await call("energy/get_prefs"))["energy_sources"]
            validation = await call("energy/validate")
        if not any(s.get("stat_energy_from") == energy_id for s in sources):
            raise WalkthroughError(f"{energy_id} is not the grid import: {sources}")
        issues = [
            issue for group in validation.values() for issues in group for issue in issues if issue
        ]
        if not issues:
            return
        # Only a statistic without metadata yet may settle; anything else is wrong.
        pending = all(issue["type"] == "statistics_not_defined" for issue in issues)
        if not pending or time.monotonic() > deadline:
            raise WalkthroughError(f"energy/validate reports: {json.dumps(issues)}")
        await asyncio.sleep(2)


async def walk_hourly(
    b: Browser, instance: Instance, session: aiohttp.ClientSession, clock: FastClock
) -> None:
    """The hourly statistics fill whole hours; the Energy dashboard shows them."""
    energy_id = hourly_id(instance, "energy_import")
    rows = await wait_hourly_rows(instance, session, clock)
    lap(
        f"hourly rows (UTC): energy {describe_rows(rows[energy_id], 'kWh')}; "
        f"cost {describe_rows(rows[hourly_id(instance, 'energy_import_cost')], 'NOK')}"
    )
    await wait_energy_valid(instance, session, energy_id)
    lap("energy/validate has no issues")

    # The page's clock is set to Home Assistant's (Chromium itself keeps the real
    # one): "today" on the dashboard is then the fast clock's day, and the frontend
    # sees that its access token ran out and gets a new one.
    page = b.page
    await page.clock.install(time=clock.now())
    await page.goto(f"{instance.base}/config/energy")
    await page.get_by_text("Active energy import (hourly)").first.wait_for()
    await assert_no_alerts(b, "the Energy configuration")
    await b.shot("07-energy-config.png", full_page=True)
    await page.clock.set_system_time(clock.now())
    await page.goto(f"{instance.base}/energy")
    await page.get_by_text("Electricity").first.wait_for()
    # The cards load statistics after the page itself; give them a moment.
    await page.wait_for_timeout(3_000)
    await assert_no_alerts(b, "the Energy dashboard")
    await b.shot("08-energy-dashboard.png")
    lap("Energy configuration and dashboard show no warning")
    async with websocket(instance, session) as call:
        await check_repairs(call)
    if b.blocked:
        say(f"refused {len(b.blocked)} non-loopback request(s): {b.blocked[:5]}")


# ---- the walk ----------------------------------------------------------------------


async def walk(processes: Processes, instance: Instance) -> None:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await start_meter(processes, instance)
        async with slow_start_bridge(instance) as bridge:
            instance.meter_url = f"socket://127.0.0.1:{bridge.port}"
            await start_hass(processes, instance, session)
            lap("Home Assistant is up")
            await onboard(instance, session)
            async with browser(instance) as b:
                # A websocket connection per step: Home Assistant pings every 55 s and
                # closes a connection that does not answer, and an idle one does not.
                async with websocket(instance, session) as call:
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
                await walk_browser(b, instance, session)
                async with websocket(instance, session) as call:
                    await check_repairs(call)
                    await prepare_fast_clock(call, instance)
                # While the meter still sends: closing the bridge makes HA log, rightly,
                # that the meter went away.
                check_log(instance)
                clock = await restart_on_fast_clock(processes, instance, session, bridge, b)
                await walk_hourly(b, instance, session, clock)
                check_log(instance)


async def walk_browser(b: Browser, instance: Instance, session: aiohttp.ClientSession) -> None:
    await log_in(b, instance)
    await add_integration(b, instance, session)
    lap("integration added")
    async with websocket(instance, session) as call:
        await set_price_option(call, instance, session)

    await open_device_page(b, instance)
    first = await read_device_values(b, set(DEVICE_VALUES), VALUE_TIMEOUT)
    await b.shot("06-device-page.png", full_page=True)
    lap(f"device page shows {first}")

    await configure_energy(b, instance)
    async with websocket(instance, session) as call:
        await add_energy_cost(call, instance)

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


# A traceback frame in the integration: '  File ".../custom_components/han_port/x.py"'.
_OWN_FRAME: Final = re.compile(r'^\s*File ".*/custom_components/han_port/')


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
        or _OWN_FRAME.search(line)
    ]
    if bad:
        raise WalkthroughError("the integration logged problems:\n" + "\n".join(bad[:20]))
    # Home Assistant names the tasks it waited for when its start-up ran past its
    # bound, ours among them: shown, not failed, because on the fast clock the
    # five-minute bound is five seconds of ours while the recorder catches up.
    for line in instance.log.read_text(errors="replace").splitlines():
        if "[homeassistant.bootstrap]" in line and "han_port" in line:
            say(f"noted: {line[:200]}")


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

    for needed in (CHROMIUM, FAKETIME_LIB):
        if not Path(needed).exists():
            say(f"{needed} is missing: run scripts/e2e, which installs it")
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
