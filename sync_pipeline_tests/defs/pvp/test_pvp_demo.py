"""pvp in `sync-pipeline demo`: the `eu` boards, 5% of the characters play, the boards again,
and the re-sync asks for the equipment of exactly the public characters that played; a
character on several boards (separate runs) was asked for once."""

from __future__ import annotations

import re

import dagster as dg

from sync_pipeline.demo import pvp_demo
from sync_pipeline_tests.defs.pvp.test_pvp_definitions import SIZES
from sync_pipeline_tests.pipelines.pvp.conftest import equipment_requests

DEMO_SIZES = {**SIZES, "leaderboard_entries": 60}


def test_the_demo_resync_requests_the_equipment_of_the_characters_that_played(
    monkeypatch, db_url, db, upstream_factory, capsys
):
    server = upstream_factory(sizes=DEMO_SIZES)
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    monkeypatch.setenv("SYNC_PVP_API_URL", server.url)
    monkeypatch.delenv("SYNC_PVP_API_TOKEN", raising=False)
    monkeypatch.setenv("PVP_RPS", "2000")
    monkeypatch.setenv("PVP_PROCESSING_THREADS", "8")
    with dg.DagsterInstance.ephemeral() as instance:
        code = pvp_demo(instance, server)
        runs = instance.get_runs()
    printed = capsys.readouterr().out
    found = re.search(r"equipment requests ([\d,]+), expected ([\d,]+) .*: (yes|NO)", printed)
    assert code == 0 and found is not None, printed
    requests, expected = (int(found.group(i).replace(",", "")) for i in (1, 2))
    assert requests == expected > 0 and found.group(3) == "yes"
    assert len(runs) == 8 and all(r.is_success for r in runs)
    # across the two passes, each character was asked for once (four boards, four runs), then
    # the ones that played once more
    characters, on_boards = db.execute(
        "SELECT count(*), (SELECT count(DISTINCT (snapshot_id, character_pk)) FROM "
        "pvp_leaderboard_entries e JOIN pvp_leaderboards s ON s.id = e.snapshot_id "
        "WHERE s.snapshot_at = (SELECT min(snapshot_at) FROM pvp_leaderboards t "
        "WHERE t.bracket = s.bracket)) FROM pvp_characters"
    ).fetchone()
    assert on_boards > characters
    assert equipment_requests(server) == characters + expected
    boards = db.execute("SELECT DISTINCT region, bracket FROM pvp_leaderboards").fetchall()
    assert {region for region, _ in boards} == {"eu"} and len(boards) == 4
