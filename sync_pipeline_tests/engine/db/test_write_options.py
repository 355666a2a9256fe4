import pytest

from sync_pipeline.engine.write_options import DEFAULT_BATCH_SIZE, WriteOptions
from sync_pipeline.errors import ConfigError


def test_environment_overrides_batching(monkeypatch):
    monkeypatch.setenv("BATCH_SIZE", "2000")
    monkeypatch.setenv("PARALLEL_BATCHES", "3")
    options = WriteOptions.from_env()
    assert (options.batch_size, options.parallel_batches) == (2000, 3)
    monkeypatch.delenv("BATCH_SIZE")
    assert WriteOptions.from_env().batch_size == DEFAULT_BATCH_SIZE


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("BATCH_SIZE", "lots", "BATCH_SIZE must be a whole number, got 'lots'"),
        ("PARALLEL_BATCHES", "0", "PARALLEL_BATCHES must be at least 1, got 0"),
    ],
)
def test_bad_environment_values_are_config_errors(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        WriteOptions.from_env()


def test_threshold_must_be_a_share():
    with pytest.raises(ConfigError, match="soft_delete_threshold"):
        WriteOptions(soft_delete_threshold=5)
