"""A wrong token fails at once, and the token shows up nowhere: message, traceback, logs, repr."""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest

from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.errors import AuthError
from sync_pipeline.upstream.auth import token_label
from sync_pipeline_tests.secret_scan import TEST_TOKENS

SERVER_TOKEN = TEST_TOKENS["upstream"]
WRONG_TOKEN = TEST_TOKENS["wrong"]


@pytest.fixture(scope="module")
def token_upstream():
    from sync_pipeline.upstream.process import UpstreamProcess
    from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES

    with UpstreamProcess(profile="none", token=SERVER_TOKEN, sizes=TEST_UPSTREAM_SIZES) as server:
        yield server


def test_401_fails_fast_with_a_message_that_does_not_contain_the_token(
    token_upstream, quick_config, caplog
):
    caplog.set_level(logging.DEBUG)
    config = quick_config(token_upstream.url, token=WRONG_TOKEN, name="cars")

    async def run() -> tuple[ApiClient, AuthError]:
        async with ApiClient(config) as client:
            with pytest.raises(AuthError) as info:
                await client.get_json("/cars", {"page": 1, "page_size": 10})
            return client, info.value

    client, error = asyncio.run(run())
    stats = token_upstream.admin("stats")["endpoints"]["cars.list"]
    assert stats["unauthorized"] == 1 and stats["requests"] == 1, "a 401 must not be retried"
    assert error.status == 401 and error.code == "unauthorized"
    assert client.metrics.failed_requests["AuthError"] == 1 and not client.metrics.retries
    shown = [
        str(error),
        repr(error),
        "".join(traceback.format_exception(error)),
        repr(client),
        repr(config),
        str(client.metrics.snapshot()),
        caplog.text,
    ]
    for text in shown:
        assert WRONG_TOKEN not in text and SERVER_TOKEN not in text
    assert "token" in str(error)


def test_the_right_token_is_sent_as_a_bearer_header(token_upstream, quick_config):
    async def run() -> int:
        async with ApiClient(quick_config(token_upstream.url, token=SERVER_TOKEN)) as client:
            response = await client.get_json("/cars", {"page": 1, "page_size": 10})
            return len(response.data["items"])

    assert asyncio.run(run()) == 10
    tokens = token_upstream.admin("stats")["endpoints"]["cars.list"]["tokens"]
    assert tokens[token_label(SERVER_TOKEN)]["served"] >= 1
