"""The Celery settings shared by the executor and `sync-pipeline worker`, without a broker."""

import time
import uuid

import pytest

from sync_pipeline.celery_worker import (
    DEFAULT_BROKER_URL,
    broker_reachable,
    broker_url,
    celery_settings,
    executor_config,
)
from sync_pipeline.cli import main
from sync_pipeline.defs.stores.celery_job import STORE_GROUP_STEPS, group_codes

UNREACHABLE = broker_reachable()
SHORT_TIMEOUT_S = 0.2


def test_a_dead_workers_step_goes_back_to_the_queue(monkeypatch):
    monkeypatch.setenv("SYNC_CELERY_VISIBILITY_TIMEOUT", "42")
    settings = celery_settings("q1")
    assert settings["task_acks_late"] and settings["task_reject_on_worker_lost"]
    assert settings["worker_prefetch_multiplier"] == 1
    assert settings["task_default_queue"] == "q1"
    assert settings["broker_transport_options"]["visibility_timeout"] == 42.0


def test_the_broker_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("SYNC_CELERY_BROKER_URL", raising=False)
    assert executor_config()["broker"] == DEFAULT_BROKER_URL
    monkeypatch.setenv("SYNC_CELERY_BROKER_URL", "amqp://guest@127.0.0.1:5672//")
    config = executor_config()
    assert config["broker"] == config["backend"] == "amqp://guest@127.0.0.1:5672//"


def test_every_store_is_in_exactly_one_group():
    codes = [f"S{i:03d}" for i in range(21)]
    groups = [group_codes(codes, i) for i in range(STORE_GROUP_STEPS)]
    assert sorted(code for group in groups for code in group) == codes
    assert max(map(len, groups)) - min(map(len, groups)) <= 1


def test_worker_refuses_a_concurrency_below_one(capsys):
    assert main(["worker", "--concurrency", "0"]) == 2
    assert "--concurrency must be at least 1" in capsys.readouterr().err


@pytest.mark.distributed
@pytest.mark.skipif(bool(UNREACHABLE), reason=UNREACHABLE)
def test_a_shorter_visibility_timeout_on_another_queue_leaves_running_steps_alone(monkeypatch):
    """A step taken (not yet acknowledged) on one queue: a worker of another queue whose
    visibility timeout has passed sweeps without handing it back; its own queue's sweep does."""
    from kombu import Connection

    monkeypatch.setenv("SYNC_CELERY_VISIBILITY_TIMEOUT", str(SHORT_TIMEOUT_S))
    running, other = (f"sync-test-{uuid.uuid4().hex[:8]}" for _ in range(2))
    with (
        queue_connection(running) as taker,
        queue_connection(other) as sweeper,
        Connection(broker_url()) as plain,
    ):
        steps = taker.SimpleQueue(running)
        steps.put({"step": "stores_group_0"})
        taken = steps.get(timeout=5)
        time.sleep(SHORT_TIMEOUT_S * 2)  # the step has been running past every sweeper's timeout
        sweeper.default_channel.qos.restore_visible()
        assert plain.default_channel.client.llen(running) == 0, "another queue's sweep re-queued it"
        taker.default_channel.qos.restore_visible()
        assert plain.default_channel.client.llen(running) == 1, "its own queue's sweep did not"
        taken.ack()
        steps.clear()
        steps.close()


def queue_connection(queue: str):
    """A broker connection with the transport options a worker of `queue` uses."""
    from kombu import Connection

    return Connection(
        broker_url(), transport_options=celery_settings(queue)["broker_transport_options"]
    )
