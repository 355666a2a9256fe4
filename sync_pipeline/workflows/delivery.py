"""One webhook attempt and what follows from it: completed, retried later, or dead.

Any 2xx is delivered. 429, 5xx, timeouts and connection failures are retried with exponential
backoff and jitter, never sooner than `Retry-After` says; other 4xx are retried the same way.
Once the attempts reach the trigger's `max_attempts`, the job goes to the dead letters.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import aiohttp
import orjson

from sync_pipeline.engine.http.retry import parse_retry_after
from sync_pipeline.workflows.queue import Job, Settlement

ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1 after n failed ones: `min(cap, base * 2**(n-1))`, of which a
    uniform random share between half and all (equal jitter), at least `Retry-After`."""

    base_s: float = 1.0
    cap_s: float = 3600.0

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s:
            raise ValueError("the backoff base must be positive and at most the cap")

    def delay_s(self, failed_attempts: int, retry_after_s: float | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** max(failed_attempts - 1, 0))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        return max(delay, retry_after_s or 0.0)


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: the status (None: no response), error text, Retry-After, duration."""

    status_code: int | None
    error: str | None
    retry_after_s: float | None
    seconds: float

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def reason(self) -> str:
        """A short label for metrics: delivered, http_429, http_5xx, http_4xx, timeout or
        transport."""
        if self.delivered:
            return "delivered"
        if self.status_code is None:
            return "timeout" if self.error and self.error.startswith("timeout") else "transport"
        if self.status_code == 429:
            return "http_429"
        return "http_5xx" if self.status_code >= 500 else "http_4xx"


async def post_webhook(session: aiohttp.ClientSession, url: str, job: Job) -> Attempt:
    """POST the job's body to `url` with `Idempotency-Key: <delivery_id>`; never raises for
    HTTP or network failures (they are the attempt's outcome). The session's timeout bounds it."""
    started = time.monotonic()
    headers = {"Idempotency-Key": str(job.delivery_id), "Content-Type": "application/json"}
    try:
        async with session.post(url, data=orjson.dumps(job.body()), headers=headers) as response:
            body = await response.read()
            status, retry_after = response.status, response.headers.get("Retry-After")
    except TimeoutError as exc:
        return Attempt(None, f"timeout: {type(exc).__name__}", None, time.monotonic() - started)
    except aiohttp.ClientError as exc:
        return Attempt(
            None,
            f"{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT],
            None,
            time.monotonic() - started,
        )
    seconds = time.monotonic() - started
    if 200 <= status < 300:
        return Attempt(status, None, None, seconds)
    error = f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
    return Attempt(status, error, parse_retry_after(retry_after), seconds)


def settlement_for(job: Job, attempt: Attempt, backoff: Backoff) -> Settlement:
    """Completed when delivered; else dead once out of attempts, or retried after a backoff."""
    if attempt.delivered:
        return Settlement(job.id, "completed", status_code=attempt.status_code)
    if job.attempts >= job.max_attempts:
        return Settlement(job.id, "dead", error=attempt.error, status_code=attempt.status_code)
    delay = backoff.delay_s(job.attempts, attempt.retry_after_s)
    return Settlement(job.id, "failed", delay, attempt.error, attempt.status_code)
