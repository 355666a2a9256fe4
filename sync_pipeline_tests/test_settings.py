"""The one environment reader: validated values, one clear line per bad value."""

import pytest

from sync_pipeline.errors import ConfigError
from sync_pipeline.settings import env_number, pool_size, positive_int_env, setting, settings


def test_unset_and_empty_take_defaults(monkeypatch):
    monkeypatch.delenv("DB_POOL_SIZE", raising=False)
    monkeypatch.setenv("PAGE_SIZE", "")
    assert pool_size() == 20
    assert positive_int_env("PAGE_SIZE", 100) == 100


def test_values_are_parsed(monkeypatch):
    monkeypatch.setenv("DB_POOL_SIZE", " 7 ")
    monkeypatch.setenv("USERS_DETAIL_RPS", "0.5")
    assert pool_size() == 7
    assert env_number("USERS_DETAIL_RPS", 0.25) == 0.5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE must be at least 1, got 0"),
        ("DB_POOL_SIZE", "many", "DB_POOL_SIZE must be a whole number, got 'many'"),
        ("BATCH_SIZE", "2.5", "BATCH_SIZE must be a whole number, got '2.5'"),
        ("RPS", "fast", "RPS must be a number, got 'fast'"),
        ("RPS", "-1", "RPS must be greater than 0, got -1"),
        (
            "USERS_DETECTOR_OVERLAP_S",
            "-5",
            "USERS_DETECTOR_OVERLAP_S must be greater than or equal to 0, got -5",
        ),
        ("USERS_LIST_HEADROOM", "0.7", "USERS_LIST_HEADROOM must be less than 0.5, got 0.7"),
    ],
)
def test_a_bad_value_is_one_line_naming_variable_and_value(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        settings()
    assert str(raised.value) == message


def test_an_undeclared_setting_is_refused():
    with pytest.raises(KeyError, match="STORES_PAGE_SIZE is not declared"):
        setting("STORES_PAGE_SIZE")


def test_the_slack_token_is_secret(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-for-logs")
    assert "xoxb-not-for-logs" not in repr(settings())
    assert settings().slack_bot_token.get_secret_value() == "xoxb-not-for-logs"
