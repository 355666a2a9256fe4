"""The Dagster UI as a person uses it: `sync-pipeline dev` on the embedded database, headless
Chromium (Debian's package, driven by Playwright), the asset graph, one cars partition
materialized by clicking, its check results read on the page, screenshots saved.

Screenshots go to the test's temporary folder, or to `SYNC_UI_SCREENSHOTS` when set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from sync_pipeline.registry import source_names
from sync_pipeline_tests.ui.browser import (
    DevServer,
    assets_by_group,
    busiest_recent_partition,
    cars_checks,
    check_statuses,
    label_matches,
    launch_partition,
    new_page,
    open_browser,
    open_check,
    show_asset_graph,
    wait_for_run_to_finish,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("SYNC_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_ui_shows_every_source_and_materializes_a_cars_partition_by_clicking(tmp_path, screenshots):
    phases = [("start", time.monotonic())]
    partition = busiest_recent_partition()
    expected_groups = assets_by_group()
    assert set(source_names()) <= set(expected_groups), "every source has its asset group"
    assert cars_checks(), "the cars assets have checks"

    dev = DevServer(tmp_path / "home").start()
    try:
        with open_browser() as browser:
            dev.wait_until_serving()
            phases.append(("UI serving", time.monotonic()))
            with screenshot_on_failure(browser, screenshots):
                click_through(browser, dev.url, screenshots, expected_groups, partition, phases)
    finally:
        exit_code = dev.stop()
    assert exit_code == 0, "Ctrl-C stops dev cleanly"
    phases.append(("dev stopped", time.monotonic()))
    print(
        "\nUI test: "
        + ", ".join(f"{name} {at - phases[0][1]:.1f}s" for name, at in phases[1:])
        + f"; screenshots in {screenshots}"
    )


def click_through(
    browser: Browser,
    ui_url: str,
    screenshots: Path,
    expected_groups: dict[str, set[str]],
    partition: str,
    phases: list[tuple[str, float]],
) -> None:
    graph_page = new_page(browser, height=1500)
    expected = sorted(name for names in expected_groups.values() for name in names)
    labels = show_asset_graph(graph_page, ui_url, len(expected))
    graph_page.screenshot(path=screenshots / "asset-graph.png")
    unmatched = [n for n in expected if not any(label_matches(lb, n) for lb in labels)]
    assert unmatched == [], f"assets missing from the graph: {unmatched}; shown: {labels}"
    assert len(labels) == len(expected), f"shown {labels}, defined {expected}"
    for group in expected_groups:
        assert graph_page.get_by_text(group, exact=True).count() >= 1, f"group {group} not shown"
    phases.append(("graph checked", time.monotonic()))

    page = new_page(browser)
    run_id = launch_partition(page, ui_url, "cars", partition)
    page.get_by_text(f"partition: {partition}", exact=True).wait_for()
    phases.append(("run launched", time.monotonic()))
    status = wait_for_run_to_finish(page)
    assert status == "Success", f"run {run_id} ended {status}"
    page.screenshot(path=screenshots / "cars-run.png")
    phases.append(("run succeeded", time.monotonic()))

    checks_by_asset = cars_checks()
    for asset, checks in checks_by_asset.items():
        shown = check_statuses(page, ui_url, asset)
        assert shown == dict.fromkeys(checks, "Succeeded"), (asset, shown)
    error_rate_asset = next(a for a, checks in checks_by_asset.items() if "error_rate" in checks)
    check_statuses(page, ui_url, error_rate_asset)
    detail = open_check(page, "error_rate")
    assert "Passed" in detail and "target_max_error_rate" in detail, detail
    page.screenshot(path=screenshots / "cars-checks.png")
    phases.append(("checks read", time.monotonic()))


@contextmanager
def screenshot_on_failure(browser: Browser, screenshots: Path) -> Iterator[None]:
    """On a failure, every open page's screenshot (`failure-N.png`) beside the others."""
    try:
        yield
    except BaseException:
        pages = [page for context in browser.contexts for page in context.pages]
        for number, page in enumerate(pages):
            page.screenshot(path=screenshots / f"failure-{number}.png")
        raise
