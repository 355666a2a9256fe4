"""The comparison the suite relies on finds every kind of divergence it claims to find."""

from __future__ import annotations

import json

from sync_pipeline.db.pool import open_pool
from sync_pipeline.entities.cars import CARS
from sync_pipeline.upstream.data.oddities import oddity_of
from sync_pipeline_tests.reliability.sources import cars_full_refresh
from sync_pipeline_tests.reliability.truth import compare, page_records

SEED = 7


def test_compare_reports_missing_duplicated_stale_undeleted_and_wrongly_quarantined(
    fresh_upstream, db_url, db
):
    server = fresh_upstream(SEED, cars=300)
    with open_pool(db_url, max_size=4, name="truth_test") as pool:
        cars_full_refresh(pool, server)
    truth = page_records(server.url, "/cars")
    assert compare(db, CARS, truth, SEED, "cars").exact

    gone, changed, extra, storable = (car["id"] for car in truth[:4])
    db.execute("UPDATE cars SET deleted_at = now() WHERE id = %s", (gone,))
    db.execute("UPDATE cars SET make = make || '?' WHERE id = %s", (changed,))
    db.execute("ALTER TABLE cars DROP CONSTRAINT cars_pkey CASCADE")
    db.execute("INSERT INTO cars SELECT * FROM cars WHERE id = %s", (extra,))
    db.execute(
        "INSERT INTO sync_quarantine (source, entity, run_id, record_key, reason, raw_json) "
        "VALUES ('cars', 'cars', 'x', %s, 'test', %s)",
        (str(storable), json.dumps(truth[3])),
    )
    assert oddity_of(SEED, "cars", storable) != "wrong_type"
    deleted_upstream = truth[4]["id"]
    outcome = compare(db, CARS, [c for c in truth if c["id"] != deleted_upstream], SEED, "cars")
    assert outcome.missing == [(str(gone),)]
    assert [(key, name) for key, name, *_ in outcome.stale] == [((str(changed),), "make")]
    assert outcome.duplicated == [(str(extra),)]
    assert outcome.undeleted == [(str(deleted_upstream),)]
    assert outcome.quarantined_storable == [(str(storable),)]
    assert not outcome.exact
