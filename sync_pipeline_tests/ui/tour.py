"""The README tour's screenshots, taken from a real `sync-pipeline dev`:

    python -m sync_pipeline_tests.ui.tour docs/tour

1. `asset-graph.png`: the global asset lineage, every group expanded.
2. `check-failing.png`: a cars partition materialized by clicking while the upstream fails 40%
   of the cars requests: the blocking `error_rate` check fails with its numbers.
3. `slack.png`: what the alert sensors, run by the `dev` daemon, posted to a fake Slack Web API
   on loopback: the failed check, the failed run, and the recovery after a clean re-run.
4. `backfill.png`: a backfill of every cars partition (one run: the cars backfill policy).

Takes a few minutes (the sensors tick every 30 s). Needs Debian's `chromium`. The committed
PNGs were then shrunk with `pngquant --quality 70-95 --ext .png --force docs/tour/*.png`
(Debian's `pngquant`).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page

from sync_pipeline_tests.fake_slack import FakeSlack, channel_html
from sync_pipeline_tests.ui.browser import (
    RUN_TIMEOUT_MS,
    DevServer,
    assets_by_group,
    busiest_recent_partition,
    cars_checks,
    check_statuses,
    launch_partition,
    new_page,
    open_browser,
    open_check,
    open_toast_link,
    show_asset_graph,
    wait_for_run_to_finish,
)

CHANNEL = "#sync-alerts"
FAILING_SHARE = 0.4
SLACK_WAIT_S = 240


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    out = parser.parse_args(argv).folder
    out.mkdir(parents=True, exist_ok=True)
    with FakeSlack() as slack, tempfile.TemporaryDirectory(prefix="sync_tour_") as home:
        env = {
            "SLACK_BOT_TOKEN": "xoxb-tour",
            "SLACK_CHANNEL": CHANNEL,
            "SLACK_API_BASE_URL": slack.base_url,
            "PAGE_SIZE": "20",
        }
        with DevServer(Path(home), extra_env=env) as dev, open_browser() as browser:
            dev.wait_until_serving()
            take_tour(dev, slack, browser, out)
    return 0


def take_tour(dev: DevServer, slack: FakeSlack, browser, out: Path) -> None:
    asset_count = sum(len(names) for names in assets_by_group().values())
    graph = new_page(browser, height=1500)
    show_asset_graph(graph, dev.url, asset_count)
    graph.screenshot(path=out / "asset-graph.png")
    step("asset graph")

    page = new_page(browser, height=1000)
    partition = busiest_recent_partition()
    dev.upstream.admin("faults", {"source": "cars", "error_rate": FAILING_SHARE})
    launch_partition(page, dev.url, "cars", partition)
    status = wait_for_run_to_finish(page)
    step(f"run with failing upstream: {status}")
    check_statuses(page, dev.url, error_rate_asset())
    open_check(page, "error_rate")
    page.screenshot(path=out / "check-failing.png")
    wait_for_messages(slack, 2)

    dev.upstream.admin("faults", {"source": "cars", "profile": "none"})
    launch_partition(page, dev.url, "cars", partition)
    step(f"clean re-run: {wait_for_run_to_finish(page)}")
    wait_for_messages(slack, 3)
    slack_page = new_page(browser, height=620)
    slack_page.set_content(channel_html(CHANNEL, slack.texts()))
    slack_page.screenshot(path=out / "slack.png", full_page=True)
    step("slack")

    backfill_all(page, dev.url, "cars", len(assets_by_group()["cars"]))
    page.screenshot(path=out / "backfill.png")
    step("backfill")
    if len(slack.messages) != 3:
        raise RuntimeError(f"expected no more Slack messages, got {slack.texts()[3:]}")


def backfill_all(page: Page, ui_url: str, group: str, asset_count: int) -> None:
    """Click "Materialize all", "All", "Launch backfill" and "View"; wait until each of the
    group's `asset_count` assets shows every partition materialized."""
    page.goto(f"{ui_url}/locations/sync_pipeline/asset-groups/{group}")
    page.get_by_role("button", name="Materialize all").click()
    page.get_by_role("button", name="All", exact=True).click()
    page.get_by_role("button", name="Launch backfill").click()
    open_toast_link(page)
    page.wait_for_function(r"() => /\/runs\/b\//.test(location.pathname)")
    page.wait_for_function(
        "n => document.body.innerText.split('100% completed').length > n",
        arg=asset_count,
        timeout=RUN_TIMEOUT_MS,
    )
    page.get_by_text(re.compile(r"^Created backfill")).wait_for(state="detached")


def error_rate_asset() -> str:
    """The cars asset the `error_rate` check judges."""
    return next(asset for asset, checks in cars_checks().items() if "error_rate" in checks)


def wait_for_messages(slack: FakeSlack, count: int) -> None:
    deadline = time.monotonic() + SLACK_WAIT_S
    while len(slack.messages) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"Slack got {slack.texts()}, expected {count} messages")
        time.sleep(1)
    step(f"{count} Slack messages")


def step(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
