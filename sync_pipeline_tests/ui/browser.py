"""`sync-pipeline dev` and a headless Chromium on it, as a person would use the UI.

`DevServer` starts the real command on a private embedded PostgreSQL (a fresh
`SYNC_PIPELINE_HOME`) with every source's API on one small reference upstream, and stops it
with Ctrl-C. `open_browser` drives Debian's `chromium` package through Playwright's
`executable_path`: Playwright never downloads a browser of its own. The UI steps
(`show_asset_graph`, `launch_partition`, ...) click what a person clicks; the browser test and the
README tour (`python -m sync_pipeline_tests.ui.tour`) share them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Self

import httpx
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from sync_pipeline.definitions import defs
from sync_pipeline.settings import SOURCES, source_env_names
from sync_pipeline.upstream.data import generate_cars
from sync_pipeline.upstream.process import UpstreamProcess, free_port

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Small data: a cars partition syncs in seconds. No users and no contacts, so the users
# detail backfill and the contacts sync that `dev`'s sensors start on their own are over at once
# instead of competing with the run under test for the machine.
UPSTREAM_SIZES = {
    "cars": 2000,
    "users": 0,
    "stores": 2,
    "leaderboard_entries": 10,
    "contacts": 0,
    "workspaces": 1,
}
UI_START_TIMEOUT_S = 240
RUN_TIMEOUT_MS = 240_000
PAGE_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1400, "height": 900}
# The UI's one-time "Join the Dagster community" dialog, answered as if "Skip" had been clicked.
SKIP_COMMUNITY_DIALOG = "localStorage.setItem('communityNux', '\"1\"')"
FINAL_RUN_STATUSES = ("Success", "Failure", "Canceled")


def chromium_path() -> str:
    """Debian's Chromium; raises with the command that installs it when it is missing."""
    for candidate in (shutil.which("chromium"), *CHROMIUM_PATHS):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(
        "Chromium is not installed: `apt-get install -y chromium` (Debian's package; "
        ".ci/run installs it). Playwright drives it and downloads no browser."
    )


def busiest_recent_partition() -> str:
    """The latest day the upstream's cars were updated on: a partition with data in it."""
    days = Counter(str(car["updated_at"])[:10] for car in generate_cars(1, UPSTREAM_SIZES["cars"]))
    return max(days)


def assets_by_group() -> dict[str, set[str]]:
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, set()).add(key.to_user_string())
    return groups


def cars_checks() -> dict[str, set[str]]:
    """Asset -> its checks, for the assets of the cars group."""
    graph = defs.resolve_asset_graph()
    found: dict[str, set[str]] = {}
    for check_key in graph.asset_check_keys:
        asset = check_key.asset_key.to_user_string()
        if graph.get(check_key.asset_key).group_name == "cars":
            found.setdefault(asset, set()).add(check_key.name)
    return found


class DevServer:
    """`sync-pipeline dev` on a fresh embedded database in `home`, until `stop()` (Ctrl-C)."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.upstream = UpstreamProcess(profile="none", seed=1, sizes=UPSTREAM_SIZES)
        self.extra_env = extra_env or {}
        self.log_path = home / "dev.log"
        self._log: IO[str] | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What `dev` runs with, and what another command (a Celery worker) needs to share its
        embedded database and upstream: the home, every source's API on the upstream."""
        env = {k: v for k, v in os.environ.items() if k != "SYNC_DATABASE_URL"}
        env["SYNC_PIPELINE_HOME"] = str(self.home)
        env["SYNC_DAGSTER_BASE_URL"] = self.url
        env.update({source_env_names(s)[0]: self.upstream.url for s in SOURCES})
        env.update(self.extra_env)
        return env

    def start(self) -> Self:
        self.home.mkdir(parents=True, exist_ok=True)
        self.upstream.start()
        self._log = self.log_path.open("w")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "sync_pipeline.cli", "dev", "--port", str(self.port)],
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_until_serving(self) -> None:
        """Until the webserver answers; raises with the log's tail if `dev` exits first."""
        deadline = time.monotonic() + UI_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"sync-pipeline dev exited {self._proc.returncode}:\n{self.log()}"
                )
            try:
                if httpx.get(f"{self.url}/server_info", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(
            f"the Dagster UI did not come up in {UI_START_TIMEOUT_S}s:\n{self.log()}"
        )

    def log(self, limit: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-limit:]

    def stop(self) -> int | None:
        """Ctrl-C, as a person stops it; the exit code (None if it had to be killed)."""
        code = None
        if self._proc is not None:
            self._proc.send_signal(signal.SIGINT)
            try:
                code = self._proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        self.upstream.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def open_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, height: int = VIEWPORT["height"]) -> Page:
    context = browser.new_context(viewport={"width": VIEWPORT["width"], "height": height})
    context.add_init_script(SKIP_COMMUNITY_DIALOG)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    return page


def show_asset_graph(page: Page, ui_url: str, asset_count: int) -> list[str]:
    """Open the global asset lineage, expand every group (Alt+E, as its settings menu says)
    and return the names on the asset nodes once `asset_count` of them are drawn (long names
    are middle-truncated by the UI: `store_us…_snapshot`)."""
    page.goto(f"{ui_url}/asset-groups")
    page.locator("[class*=AssetNode_]").first.wait_for()
    names = page.locator("[class*=AssetNode_assetName]")
    if names.count() == 0:
        page.keyboard.press("Alt+e")
    try:
        page.wait_for_function(
            "n => document.querySelectorAll('[class*=AssetNode_assetName]').length >= n",
            arg=asset_count,
        )
    except PlaywrightTimeoutError:
        pass  # the caller's assertion names what is missing
    page.wait_for_load_state("networkidle")
    return names.all_inner_texts()


def label_matches(label: str, name: str) -> bool:
    """Whether an asset node's label shows `name`, allowing the UI's middle truncation."""
    if "…" not in label:
        return label == name
    head, tail = label.split("…", 1)
    return name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail)


def launch_partition(page: Page, ui_url: str, group: str, partition: str) -> str:
    """Materialize every asset of `group` for one partition by clicking, as a person does:
    the group's page, "Materialize all", the partition typed in, "Launch 1 run", then "View"
    in the toast. Returns the run id the UI opened."""
    page.goto(f"{ui_url}/locations/sync_pipeline/asset-groups/{group}")
    page.get_by_role("button", name="Materialize all").click()
    partitions = page.get_by_placeholder("No matching partitions")
    partitions.fill(partition)
    partitions.press("Enter")
    page.get_by_role("button", name="Launch 1 run").click()
    open_toast_link(page)
    page.wait_for_function(r"() => /\/runs\/[0-9a-f-]{36}/.test(location.pathname)")
    return re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)


def open_toast_link(page: Page) -> None:
    """Click "View" in the "Launched run" / "Created backfill" toast, then move the pointer off
    it: a toast under the pointer stays, and would cover the page in screenshots."""
    page.get_by_role("link", name="View", exact=True).click()
    page.mouse.move(0, 0)


def wait_for_run_to_finish(page: Page) -> str:
    """On a run's page: wait until its status tag shows a final status, and return it."""
    status = page.locator("span, div").filter(
        has_text=re.compile(rf"^({'|'.join(FINAL_RUN_STATUSES)})$")
    )
    status.first.wait_for(timeout=RUN_TIMEOUT_MS)
    return status.first.inner_text()


def check_statuses(page: Page, ui_url: str, asset: str) -> dict[str, str]:
    """The asset's Checks tab: each check's name and the status the list shows for it."""
    page.goto(f"{ui_url}/assets/{asset}?view=checks")
    page.get_by_text(re.compile(r"^Checks \(\d+\)$")).wait_for()
    page.wait_for_load_state("networkidle")
    lines = [line.strip() for line in page.inner_text("body").splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"Checks \(\d+\)", line))
    expected = int(re.search(r"\d+", lines[start]).group())
    statuses: dict[str, str] = {}
    i = start + 1
    while len(statuses) < expected and i + 2 < len(lines):
        if lines[i] == lines[i + 1]:
            statuses[lines[i]] = lines[i + 2]
            i += 3
        else:
            i += 1
    return statuses


def open_check(page: Page, name: str) -> str:
    """Select one check in the Checks tab; returns the text of its detail pane."""
    page.get_by_text(name, exact=True).first.click()
    page.get_by_text("Latest execution").wait_for()
    page.wait_for_load_state("networkidle")
    return page.inner_text("body")
