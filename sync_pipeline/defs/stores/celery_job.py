"""`stores_sync_celery_job`: every store's users and videos as steps Celery workers spread.

The stores fan-out as `STORE_GROUP_STEPS` independent steps (`stores_group_0` ..), each syncing
every `STORE_GROUP_STEPS`-th registered store with `sync_store_group`, the same unit as
`stores_sync`. The steps pass nothing to each other (the stores come from the instance's
partitions, the data goes to PostgreSQL), so workers need no shared filesystem; the per-app
limit is the PostgreSQL-shared bucket every step's client takes from, so any number of workers
stays under it, and the `stores_groups` pool bounds the steps at once.

Defined only when the extra `.[celery]` (dagster-celery) is installed. Steps run on
`sync-pipeline worker` processes (`sync_pipeline/celery_worker.py`); the executor's queue is
per run (`execution: config: queue:`), the broker is the environment's.
"""

import os
import socket
import warnings
from collections.abc import Iterator

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.celery_worker import DEFAULT_QUEUE, executor_config
from sync_pipeline.dagster_private import ReconstructableJob, ReconstructableRepository
from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.defs.source_sync import QUIET_LOGGING
from sync_pipeline.defs.stores.assets import store_materializations, sync_store_group
from sync_pipeline.defs.stores.checks import live_rows_by_store
from sync_pipeline.defs.stores.config import StoresSyncConfig
from sync_pipeline.defs.stores.partitions import registered_store_codes
from sync_pipeline.defs.stores.resources import StoresApiResource

SOURCE = registry.source("stores")
STORE_GROUP_STEPS = 8
GROUP_POOL = "stores_groups"
GROUP_RETRY = dg.RetryPolicy(max_retries=3, delay=2.0, backoff=dg.Backoff.EXPONENTIAL)
JOB_NAME = "stores_sync_celery_job"

# dagster-celery registers its `execute_plan` task on the app again for every step it sends, and
# Celery warns about each re-registration (the callable is the same); nothing to act on.
warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")


def group_codes(codes: list[str], index: int, groups: int = STORE_GROUP_STEPS) -> list[str]:
    """The stores of step `index`: every `groups`-th code from position `index`."""
    return codes[index::groups]


def ensure_group_pool(instance: dg.DagsterInstance) -> None:
    """Let `STORE_GROUP_STEPS` group steps run at once (an unset pool gets the default, 1)."""
    storage = instance.event_log_storage
    current = {pool.name: pool for pool in storage.get_pool_limits()}
    found = current.get(GROUP_POOL)
    if found is None or found.limit != STORE_GROUP_STEPS or found.from_default:
        storage.set_concurrency_slots(GROUP_POOL, STORE_GROUP_STEPS)


def where_ran() -> dict[str, dg.MetadataValue]:
    """The step's process, its worker's main process and host: which worker ran the step."""
    return {
        "pid": dg.MetadataValue.int(os.getpid()),
        "worker_pid": dg.MetadataValue.int(os.getppid()),
        "hostname": dg.MetadataValue.text(socket.gethostname()),
    }


def group_op(index: int) -> dg.OpDefinition:
    @dg.op(
        name=f"stores_group_{index}",
        out=dg.Out(dg.Nothing),
        pool=GROUP_POOL,
        tags=SOURCE.run_tags,
        retry_policy=GROUP_RETRY,
        description=f"Users and videos of every {STORE_GROUP_STEPS}th registered store, from "
        f"the {index + 1}th, under the one per-app limit.",
    )
    def stores_group(
        context: dg.OpExecutionContext,
        config: StoresSyncConfig,
        postgres: PostgresResource,
        stores_api: StoresApiResource,
    ) -> Iterator[dg.AssetMaterialization | dg.Output]:
        codes = group_codes(registered_store_codes(context.instance), index)
        ran = where_ran()
        context.log.info(f"group {index}: {len(codes)} stores in process {os.getpid()}")
        outcome = sync_store_group(
            postgres, stores_api, codes, context.run.run_id, config.settings(), context.log
        )
        context.log.info(outcome.summary())
        pool = postgres.pool()
        for job_name in outcome.job_names:
            yield from store_materializations(
                outcome.for_job(job_name), live_rows_by_store(pool, job_name, codes)
            )
        yield dg.Output(
            None,
            metadata={
                **ran,
                "stores": dg.MetadataValue.json(codes),
                "stores_ok": outcome.stores_ok,
                "failed_stores": dg.MetadataValue.json(outcome.failed_stores),
                "requests": int(outcome.http.get("requests", 0)),
                "retries": int(outcome.http.get("retries", 0)),
                "seconds": float(outcome.elapsed_s),
            },
        )

    return stores_group


def celery_stores_executor() -> dg.ExecutorDefinition | None:
    """dagster-celery's `celery_executor` on the environment's broker, its queue per run; None
    without the extra."""
    try:
        from dagster_celery import celery_executor
    except ImportError:
        return None

    def resolve(config: dict) -> dict:
        return executor_config(config["queue"])

    return celery_executor.configured(
        resolve,
        name="stores_celery",
        config_schema={"queue": dg.Field(str, default_value=DEFAULT_QUEUE)},
    )


def build_job(executor: dg.ExecutorDefinition) -> dg.JobDefinition:
    @dg.job(
        name=JOB_NAME,
        executor_def=executor,
        tags=SOURCE.run_tags,
        description=f"Every registered store in {STORE_GROUP_STEPS} steps that Celery workers "
        "(`sync-pipeline worker`) spread; run the store list first.",
    )
    def stores_sync_celery_job() -> None:
        for index in range(STORE_GROUP_STEPS):
            group_op(index)()

    return stores_sync_celery_job


def reconstructable_job() -> ReconstructableJob:
    """The job as workers load it: from the code location's module, by name."""
    repository = ReconstructableRepository.for_module("sync_pipeline.definitions", "defs")
    return repository.get_reconstructable_job(JOB_NAME)


def run_config(queue: str = DEFAULT_QUEUE, op_config: dict | None = None) -> dict:
    """A run on `queue`, every group step with `op_config` (StoresSyncConfig fields)."""
    config: dict = {"execution": {"config": {"queue": queue}}, **QUIET_LOGGING}
    if op_config:
        ops = {f"stores_group_{i}": {"config": op_config} for i in range(STORE_GROUP_STEPS)}
        config["ops"] = ops
    return config


def execute_celery_stores(
    instance: dg.DagsterInstance, queue: str = DEFAULT_QUEUE, op_config: dict | None = None
) -> dg.JobExecutionResult:
    """Run the job from this process (its orchestrator here, its steps on the workers of
    `queue`); the stores must be registered (the list run) and the instance persistent."""
    ensure_group_pool(instance)
    return dg.execute_job(reconstructable_job(), instance, run_config=run_config(queue, op_config))


_executor = celery_stores_executor()
if _executor is not None:
    stores_sync_celery_job = build_job(_executor)
