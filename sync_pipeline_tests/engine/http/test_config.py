"""Client settings: validation, environment, and a token that never shows itself."""

import pytest

from sync_pipeline.engine.http.config import ClientConfig, Secret, shared_key_for
from sync_pipeline.engine.http.errors import ConfigurationError
from sync_pipeline_tests.secret_scan import TEST_TOKENS

TOKEN = TEST_TOKENS["config"]


def test_token_is_masked_in_repr_str_and_format():
    config = ClientConfig("http://127.0.0.1:1", token=TOKEN, name="cars")
    for text in (
        repr(config),
        str(config),
        f"{config}",
        repr(config.token),
        f"{config.token}",
        str(config.token),
    ):
        assert TOKEN not in text
    assert isinstance(config.token, Secret) and config.token.reveal() == TOKEN
    assert config.token.mask(f"Bearer {TOKEN} rejected") == "Bearer *** rejected"


def test_shared_key_names_the_token_without_containing_it():
    key = shared_key_for("cars", Secret(TOKEN))
    assert key.startswith("cars:") and TOKEN not in key
    assert (
        key == shared_key_for("cars", Secret(TOKEN)) != shared_key_for("cars", Secret(TOKEN + "x"))
    )
    assert shared_key_for("cars", None) == "cars:anonymous"


def test_paced_rate_keeps_headroom_under_the_limit():
    assert ClientConfig("http://x", rps=20.0, rate_headroom=0.01).paced_rps == pytest.approx(19.8)
    assert ClientConfig("http://x", rps=None).paced_rps is None


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"rps": 0}, "rps"),
        ({"burst": 0}, "burst"),
        ({"concurrency": 0}, "concurrency"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"breaker_threshold": 0}, "breaker_threshold"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"transport": "curl"}, "transport"),
        ({"backoff_base_s": 5, "backoff_cap_s": 1}, "backoff"),
    ],
)
def test_invalid_settings_are_refused_with_the_setting_named(overrides, fragment):
    settings = {"base_url": "http://x", **overrides}
    with pytest.raises(ConfigurationError, match=fragment):
        ClientConfig(**settings)


def test_from_env_reads_url_and_token(monkeypatch):
    monkeypatch.setenv("SYNC_CARS_API_URL", "http://127.0.0.1:8700")
    monkeypatch.setenv("SYNC_CARS_API_TOKEN", TOKEN)
    config = ClientConfig.from_env("cars", concurrency=4)
    assert (config.base_url, config.name, config.concurrency) == (
        "http://127.0.0.1:8700",
        "cars",
        4,
    )
    assert config.token == Secret(TOKEN)


def test_from_env_without_url_says_which_variable(monkeypatch):
    monkeypatch.delenv("SYNC_USERS_API_URL", raising=False)
    with pytest.raises(ConfigurationError, match="SYNC_USERS_API_URL"):
        ClientConfig.from_env("users")
