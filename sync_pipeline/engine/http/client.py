"""`ApiClient`: GET JSON from one upstream, paced, bounded, retried and observed.

One request goes through, in order: the circuit breaker (fail fast while open), a slot among
`concurrency` requests in flight, the rate limiter (in-process or shared) and the one-second
window cap, one HTTP attempt on the keep-alive pool, and the parse of the whole body. A failed
attempt is sorted into an `ErrorClass` and retried after a wait (`retry.py`) until the attempts or
the time budget run out; 401/403/400 and other 4xx are raised at once; 404 comes back as `NotFound`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Self, TypeVar

import httpx

from sync_pipeline.engine.http.attempt import AttemptFailed, interpret_response, transport_failure
from sync_pipeline.engine.http.circuit_breaker import CircuitBreaker
from sync_pipeline.engine.http.config import ClientConfig
from sync_pipeline.engine.http.errors import (
    ApiError,
    ConfigurationError,
    ErrorClass,
    RequestRejected,
    RetryBudgetExhausted,
)
from sync_pipeline.engine.http.metrics import HttpMetrics
from sync_pipeline.engine.http.responses import ApiResponse, NotFound
from sync_pipeline.engine.http.retry import RetryPolicy
from sync_pipeline.engine.http.shared_bucket import SharedTokenBucket
from sync_pipeline.engine.http.token_bucket import RateLimiter, TokenBucket
from sync_pipeline.engine.http.transport import AiohttpTransport
from sync_pipeline.engine.http.window_cap import WindowCap

T = TypeVar("T")
logger = logging.getLogger(__name__)


def build_limiter(config: ClientConfig, conninfo: str | None = None) -> RateLimiter:
    """The limiter `config` asks for: shared in PostgreSQL when it names a key, else in-process."""
    if config.shared_limiter_key is None or config.paced_rps is None:
        return TokenBucket(
            config.paced_rps, config.burst, config.throttle_rate_factor, config.throttle_slow_for_s
        )
    if conninfo is None:
        raise ConfigurationError(
            f"{config.name}: shared_limiter_key is set but no database was given for it"
        )
    return SharedTokenBucket(
        conninfo,
        config.shared_limiter_key,
        config.paced_rps,
        config.burst,
        config.throttle_rate_factor,
        config.throttle_slow_for_s,
        window_max=WindowCap.for_limit(config.rps, config.burst).max_requests,
    )


class BudgetClock:
    """A request's time budget, running from its first slot: the time it queued behind the
    rate limit and the in-flight cap before that is the pacing at work, not the request failing
    (a run of 500 details at 1 request per 4 s queues its last one for half an hour)."""

    def __init__(self) -> None:
        self._started: float | None = None

    def start(self) -> None:
        """Start the clock (the first call only)."""
        if self._started is None:
            self._started = time.monotonic()

    def elapsed_s(self) -> float:
        return 0.0 if self._started is None else time.monotonic() - self._started


class ApiClient:
    """An async client for one upstream; use `async with ApiClient(config) as client:`, inside one
    event loop (one `asyncio.run`) from start to close.

    `limiter_conninfo` is the PostgreSQL holding the shared bucket (needed only with
    `config.shared_limiter_key`); `transport`, when given, replaces the one `config.transport`
    names.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        metrics: HttpMetrics | None = None,
        limiter: RateLimiter | None = None,
        limiter_conninfo: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or HttpMetrics()
        self.log = log or logger
        self.limiter = limiter or build_limiter(config, limiter_conninfo)
        self.window_cap = WindowCap.for_limit(config.rps, config.burst)
        self.breaker = CircuitBreaker(
            config.name, config.breaker_threshold, config.breaker_open_s, self.log
        )
        self.retry_policy = RetryPolicy(
            config.max_attempts, config.total_budget_s, config.backoff_base_s, config.backoff_cap_s
        )
        self._in_flight = asyncio.Semaphore(config.concurrency)
        headers = {
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "User-Agent": "sync-pipeline",
        }
        if config.token is not None:
            headers["Authorization"] = f"Bearer {config.token.reveal()}"
        if transport is None and config.transport == "aiohttp":
            transport = AiohttpTransport(config.concurrency)
        t = config.timeouts
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            headers=headers,
            transport=transport,
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=t.connect_s, read=t.read_s, write=t.write_s, pool=t.pool_s
            ),
            limits=httpx.Limits(
                max_connections=config.concurrency, max_keepalive_connections=config.concurrency
            ),
        )

    def __repr__(self) -> str:
        return f"ApiClient(name={self.config.name!r}, base_url={self.config.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool and the limiter's database connection."""
        try:
            await self._http.aclose()
        finally:
            await self.limiter.aclose()

    async def get_json(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        parse: Callable[[Any], T] | None = None,
    ) -> ApiResponse[T] | NotFound:
        """GET `path` and return its parsed JSON (passed through `parse` when given), or `NotFound`.

        `parse` may raise `MalformedBody`, `KeyError`, `TypeError` or `ValueError` to reject a
        body of the wrong shape; such bodies are retried like unparsable ones.
        Raises `AuthError` (401), `Forbidden` (403), `BadRequest` (400), `RequestRejected`
        (other 4xx), `CircuitOpen`, `RetryBudgetExhausted`, `RateLimiterUnavailable`.
        """
        try:
            return await self._get_with_retries(path, params, parse)
        except ApiError as exc:
            self.metrics.record_failed_request(type(exc).__name__)
            raise

    async def _get_with_retries(
        self, path: str, params: Mapping[str, Any] | None, parse: Callable[[Any], T] | None
    ) -> ApiResponse[T] | NotFound:
        where = self._describe(path, params)
        called = time.monotonic()
        budget = BudgetClock()
        failures = attempts = 0
        while True:
            try:
                result = await self._attempt_through_breaker(path, params, parse, where, budget)
            except AttemptFailed as failed:
                attempts += 1
                failures += failed.error is not ErrorClass.THROTTLED
                await self._before_retry(failed, failures, attempts, budget.elapsed_s(), where)
                continue
            if isinstance(result, NotFound):
                self.metrics.not_found += 1
                return result
            return ApiResponse(result[0], result[1], attempts + 1, time.monotonic() - called)

    async def _attempt_through_breaker(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        parse: Callable[[Any], Any] | None,
        where: str,
        budget: BudgetClock,
    ) -> Any:
        """One attempt, with its verdict reported to the circuit breaker."""
        is_probe = self.breaker.before_request()
        try:
            result = await self._attempt(path, params, parse, where, budget)
        except AttemptFailed as failed:
            if failed.error is ErrorClass.THROTTLED:
                self.breaker.record_success()
            elif self.breaker.record_failure():
                self.metrics.breaker_openings += 1
            self.metrics.breaker_state = self.breaker.state.value
            raise
        except RequestRejected:
            self.breaker.record_success()
            raise
        except BaseException:
            if is_probe:
                self.breaker.record_abandoned()
            raise
        self.breaker.record_success()
        self.metrics.breaker_state = self.breaker.state.value
        return result

    async def _attempt(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        parse: Callable[[Any], Any] | None,
        where: str,
        budget: BudgetClock,
    ) -> tuple[int, Any] | NotFound:
        async with self._in_flight:
            await self.limiter.acquire()
            if self.window_cap is not None and await self.window_cap.wait_turn():
                self.metrics.window_holds += 1
            budget.start()
            remaining_s = self.config.total_budget_s - budget.elapsed_s()
            if remaining_s <= 0:
                raise AttemptFailed(
                    ErrorClass.TIMEOUT, "the time budget ran out waiting for the rate limiter"
                )
            self.metrics.record_request_sent()
            sent_at = time.monotonic()
            try:
                async with asyncio.timeout(remaining_s):
                    response = await self._http.get(path, params=params)
            except (httpx.TransportError, httpx.DecodingError, TimeoutError) as exc:
                raise transport_failure(exc) from None
            self.metrics.record_response(time.monotonic() - sent_at)
        return interpret_response(response, parse, self.config.token, where)

    async def _before_retry(
        self, failed: AttemptFailed, failures: int, attempts: int, elapsed_s: float, where: str
    ) -> None:
        """Wait before the next attempt, or raise `RetryBudgetExhausted` when none is allowed."""
        wait_s = self.retry_policy.wait_s(failed.error, failures, failed.retry_after_s)
        reason = self.retry_policy.give_up_reason(failed.error, failures, elapsed_s, wait_s)
        self.metrics.record_attempt_error(failed.error, retried=reason is None)
        if reason is not None:
            self.log.warning(
                "%s: giving up after %d attempt(s): %s (%s)", where, attempts, failed.reason, reason
            )
            raise RetryBudgetExhausted(
                "GET", where, attempts, elapsed_s, failed.error, f"{failed.reason}; {reason}"
            ) from None
        if failed.error is ErrorClass.THROTTLED:
            self.log.info(
                "%s: 429 from %s; waiting %.2f s before retrying", where, self.config.name, wait_s
            )
            await self.limiter.throttle(wait_s)
        else:
            self.log.debug(
                "%s: %s (%s); retry %d in %.2f s",
                where,
                failed.error.value,
                failed.reason,
                attempts,
                wait_s,
            )
        await asyncio.sleep(wait_s)

    def _describe(self, path: str, params: Mapping[str, Any] | None) -> str:
        query = "&".join(f"{key}={value}" for key, value in (params or {}).items())
        text = f"{path}?{query}" if query else path
        return self.config.token.mask(text) if self.config.token else text
