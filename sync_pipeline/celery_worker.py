"""Celery for scaling out (extra `.[celery]`): the broker settings shared by the executor of
`stores_sync_celery_job` and by `sync-pipeline worker`, and the worker's Celery app.

The executor (in the run's orchestrator) only sends steps; what happens to a step whose worker
dies is the worker's side: its task is acknowledged late (after the step) and rejected when its
process is lost, so the broker hands it to another worker. Redis does that once the message has
been unacknowledged for the visibility timeout (`SYNC_CELERY_VISIBILITY_TIMEOUT`), RabbitMQ as
soon as the dead worker's connection drops.

This module imports Celery and dagster-celery only inside functions, so the settings are
readable (and the definitions load) without the extra.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sync_pipeline.settings import setting

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_VISIBILITY_TIMEOUT_S = 1800.0
DEFAULT_QUEUE = "dagster"  # dagster-celery's default queue
# Surviving workers look for steps a dead worker left unacknowledged this often (seconds).
UNACKED_RESTORE_INTERVAL_S = 5.0


def broker_url() -> str:
    """`SYNC_CELERY_BROKER_URL`, else the local Redis; also the result backend."""
    return setting("SYNC_CELERY_BROKER_URL", DEFAULT_BROKER_URL)


def visibility_timeout_s() -> float:
    return float(setting("SYNC_CELERY_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT_S))


def celery_settings(queue: str = DEFAULT_QUEUE) -> dict[str, Any]:
    """Celery settings (lowercase names) for the executor's `config_source` and the worker.

    Late acknowledgement and rejection on a lost worker hand a killed worker's step to another;
    one step reserved at a time (prefetch 1) so a worker never sits on steps another could run.
    With Redis, the steps being run wait in kombu's `unacked` keys, and any worker on the same
    database hands back every entry older than its own visibility timeout: with kombu's one set
    of keys for all queues, a worker with a shorter timeout (a test's, another deployment's)
    re-queues steps still running on other queues, and they run twice. The keys are the
    queue's own (`unacked_keys`), so only the queue's workers, with its timeout, hand its steps
    back.
    """
    return {
        "task_default_queue": queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout_s(),
            **unacked_keys(queue),
            "unacked_restore_interval": UNACKED_RESTORE_INTERVAL_S,
            "unacked_restore_throttle": 1,  # every sweep looks (kombu's default: every 10th)
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "result_backend_transport_options": {"visibility_timeout": visibility_timeout_s()},
    }


def unacked_keys(queue: str) -> dict[str, str]:
    """kombu's Redis keys of the messages being worked on, of `queue` alone (kombu's defaults
    `unacked`, `unacked_index`, `unacked_mutex` are one set for every queue of the database)."""
    return {
        "unacked_key": f"unacked:{queue}",
        "unacked_index_key": f"unacked_index:{queue}",
        "unacked_mutex_key": f"unacked_mutex:{queue}",
    }


def executor_config(queue: str = DEFAULT_QUEUE) -> dict[str, Any]:
    """`execution: config:` of `celery_executor` for this environment's broker and `queue`."""
    url = broker_url()
    return {"broker": url, "backend": url, "config_source": celery_settings(queue)}


def worker_app(queue: str = DEFAULT_QUEUE):
    """The Celery app of a worker: dagster-celery's, with its `execute_plan` task acknowledged
    late and rejected when the worker process is lost."""
    from dagster_celery.config import dict_wrapper
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    config = executor_config(queue)
    app = make_app(
        {
            "broker": config["broker"],
            "backend": config["backend"],
            "include": [],
            "config_source": dict_wrapper(config["config_source"]),
        }
    )
    create_task(app, acks_late=True, reject_on_worker_lost=True)
    return app


def run_worker(concurrency: int, queue: str = DEFAULT_QUEUE, loglevel: str = "INFO") -> None:
    """Run a Celery worker (until SIGTERM) with `concurrency` step processes on `queue`."""
    app = worker_app(queue)
    name = f"sync-pipeline-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={queue}",
            "--prefetch-multiplier=1",
            f"--loglevel={loglevel}",
            f"--hostname={name}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def start_worker(concurrency: int, queue: str = DEFAULT_QUEUE) -> int:
    """`sync-pipeline worker`: attach to the project's database and Dagster instance (the one
    every step's run names), let the group steps run at once, then run the Celery worker."""
    from sync_pipeline.db.connect import app_database_url
    from sync_pipeline.errors import ConfigError
    from sync_pipeline.instance import persistent_instance

    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        raise ConfigError("the Celery worker needs the extra: pip install -e '.[celery]'") from None
    from sync_pipeline.defs.stores.celery_job import ensure_group_pool

    with persistent_instance(app_database_url()) as instance:
        ensure_group_pool(instance)
    run_worker(concurrency, queue)
    return 0


def broker_reachable(timeout_s: float = 2.0) -> str:
    """ "" when the broker answers, else why not (the tests' skip reason)."""
    try:
        from kombu import Connection
        from kombu.exceptions import OperationalError
    except ImportError:
        return "the extra .[celery] is not installed"
    try:
        with Connection(broker_url(), connect_timeout=timeout_s) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)
    except (OSError, OperationalError) as exc:
        return f"no Celery broker answers at SYNC_CELERY_BROKER_URL: {type(exc).__name__}"
    return ""


class WorkerProcess:
    """A `sync-pipeline worker` process in a session of its own (so it and its step processes
    can be stopped, or killed, together), its output in `log_path`."""

    def __init__(self, log_path: Path, concurrency: int, queue: str, env: dict[str, str]):
        self.log_path = log_path
        self.concurrency = concurrency
        self.queue = queue
        self.env = env
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "worker not started"
        return self.process.pid

    @property
    def hostname(self) -> str:
        """The Celery node name, as dagster-celery reports it in its engine events."""
        return f"sync-pipeline-{self.pid}@{socket.gethostname()}"

    def start(self, ready_timeout_s: float = 120.0) -> WorkerProcess:
        self.launch()
        self.wait_ready(ready_timeout_s)
        return self

    def launch(self) -> None:
        """Start the process (`wait_ready` waits for Celery to take steps)."""
        command = [sys.executable, "-m", "sync_pipeline.cli", "worker"]
        command += ["--concurrency", str(self.concurrency), "--queue", self.queue]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )

    def wait_ready(self, ready_timeout_s: float = 120.0) -> None:
        assert self.process is not None, "worker not launched"
        deadline = time.monotonic() + ready_timeout_s
        while b" ready." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Celery worker did not start:\n{tail}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the worker and its step processes at once: a machine that died."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM (Celery's warm shutdown), SIGKILL after `grace_s`."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.kill()
