"""The `PVP_*` knobs: threads and the equipment max age, validated with the setting's name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync_pipeline.errors import ConfigError
from sync_pipeline.pipelines.pvp.settings import PvpSettings


@pytest.fixture(autouse=True)
def no_pvp_env(monkeypatch):
    for name in ("PVP_SYNC_THREADS", "PVP_PROCESSING_THREADS", "PVP_EQUIPMENT_MAX_AGE"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_four_boards_32_calls_and_a_day():
    settings = PvpSettings.from_env()
    assert (settings.sync_threads, settings.processing_threads) == (4, 32)
    assert settings.equipment_max_age == timedelta(hours=24)


@pytest.mark.parametrize(
    "raw, age",
    [
        ("86400", timedelta(days=1)),
        ("30m", timedelta(minutes=30)),
        ("6h", timedelta(hours=6)),
        ("1.5d", timedelta(hours=36)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_the_max_age_takes_seconds_or_a_unit(monkeypatch, raw, age):
    monkeypatch.setenv("PVP_EQUIPMENT_MAX_AGE", raw)
    assert PvpSettings.from_env().equipment_max_age == age


def test_threads_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PVP_SYNC_THREADS", "2")
    monkeypatch.setenv("PVP_PROCESSING_THREADS", "64")
    settings = PvpSettings.from_env()
    assert (settings.sync_threads, settings.processing_threads) == (2, 64)


@pytest.mark.parametrize(
    "name, raw",
    [
        ("PVP_EQUIPMENT_MAX_AGE", "a day"),
        ("PVP_SYNC_THREADS", "0"),
        ("PVP_PROCESSING_THREADS", "x"),
    ],
)
def test_a_bad_value_is_refused_by_name(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError, match=name):
        PvpSettings.from_env()
