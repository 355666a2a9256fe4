"""A circuit breaker per upstream: stop sending after a run of failures, then probe once.

Closed: requests go. More than `threshold` consecutive failures (5xx, timeouts, dropped
connections, unparsable bodies; never 429 or 4xx) open it: for `open_s` seconds every request
fails at once with `CircuitOpen`, sending nothing. Then it is half-open: one request, the probe,
goes; its success closes the breaker, its failure opens it for another `open_s`. Every change
of state is logged.
"""

from __future__ import annotations

import logging
import time
from enum import Enum

from sync_pipeline.engine.http.errors import CircuitOpen


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """The breaker of one upstream, named `upstream` in logs and errors."""

    def __init__(
        self,
        upstream: str,
        threshold: int = 10,
        open_s: float = 60.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.upstream = upstream
        self.threshold = threshold
        self.open_s = open_s
        self.logger = logger or logging.getLogger(__name__)
        self.consecutive_failures = 0
        self.openings = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose time is up reads as half-open."""
        if self._state is BreakerState.OPEN and time.monotonic() - self._opened_at >= self.open_s:
            return BreakerState.HALF_OPEN
        return self._state

    def before_request(self) -> bool:
        """Ask to send one request. Returns True when it is the half-open probe.

        Raises `CircuitOpen` while the breaker is open, or half-open with its probe in flight.
        A caller that got True must report the probe's outcome (`record_success`,
        `record_failure` or `record_abandoned`).
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            if self._state is BreakerState.OPEN:
                self.logger.info(
                    "circuit breaker for %s is half-open: sending one probe request", self.upstream
                )
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = True
            return True
        raise CircuitOpen(self.upstream, self.open_s - (time.monotonic() - self._opened_at))

    def record_success(self) -> None:
        """The upstream answered (any response that is not a failure)."""
        if self._state is not BreakerState.CLOSED:
            self.logger.info("circuit breaker for %s closed: the probe succeeded", self.upstream)
        self._state = BreakerState.CLOSED
        self._probe_in_flight = False
        self.consecutive_failures = 0

    def record_failure(self) -> bool:
        """One more failure in a row. Returns True when this failure opened the breaker."""
        self.consecutive_failures += 1
        probe_failed = self._state is BreakerState.HALF_OPEN
        if not probe_failed and (
            self._state is BreakerState.OPEN or self.consecutive_failures <= self.threshold
        ):
            return False
        self._state = BreakerState.OPEN
        self._probe_in_flight = False
        self._opened_at = time.monotonic()
        self.openings += 1
        self.logger.warning(
            "circuit breaker for %s opened after %d consecutive failures%s; next probe in %.1f s",
            self.upstream,
            self.consecutive_failures,
            " (the probe failed)" if probe_failed else "",
            self.open_s,
        )
        return True

    def record_abandoned(self) -> None:
        """The probe ended with no verdict (cancelled, or a local error): let another probe go."""
        self._probe_in_flight = False
