"""What the Celery tests read back from a run of `stores_sync_celery_job`: where each step ran,
and whether the tables hold exactly the upstream's records."""

import dagster as dg
import psycopg

from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.defs.stores.conftest import upstream_records


def step_outputs(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    """Step key -> plain metadata of its output (where it ran, its stores)."""
    found = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        event = record.dagster_event
        found[event.step_key] = {k: v.value for k, v in event.event_specific_data.metadata.items()}
    return found


def assert_tables_equal_upstream(upstream: UpstreamProcess, db_url: DatabaseUrl) -> None:
    """Every store's live rows are exactly the upstream's (read without the seed latencies)."""
    upstream.admin("faults", {"source": "stores", "profile": "none"})
    with psycopg.connect(db_url.conninfo()) as conn:
        for table, kind in (("store_users", "users"), ("store_videos", "videos")):
            for code in [s["code"] for s in upstream_records(upstream, "/stores")]:
                want = sorted(r["id"] for r in upstream_records(upstream, f"/stores/{code}/{kind}"))
                have = [
                    row[0]
                    for row in conn.execute(
                        f"SELECT id FROM {table} WHERE store_code = %s AND deleted_at IS NULL "
                        "ORDER BY id",
                        (code,),
                    )
                ]
                assert have == want, f"{table} of {code}: {len(have)} rows, upstream {len(want)}"
