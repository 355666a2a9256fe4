"""The road every API request travels: token, stats, storms, rate limit, faults, latency, answer.

`guarded(name, handler)` turns a handler `(state, request, admission) -> bytes` into an ASGI
endpoint. Handlers only build bodies; everything a client must survive happens here, in one
place, in this order: 401 -> arrival counted -> 429 storm -> 429 rate limit -> injected fault
(5xx, a hang of `timeout_s`, or a flag the answer stage acts on) -> latency -> handler -> broken
answer (truncated, not JSON, dropped) -> gzip. A hung request is dropped too when it finally
answers, so a client with a longer read timeout than `timeout_s` still gets no valid body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from sync_pipeline.upstream.faults import Fault
from sync_pipeline.upstream.profiles import ENDPOINTS, Endpoint
from sync_pipeline.upstream.ratelimit import retry_after_seconds
from sync_pipeline.upstream.responses import (
    NOT_JSON_BODY,
    ApiError,
    DroppedResponse,
    accepts_gzip,
    error_response,
    json_response,
    retry_after_date,
    truncated,
)
from sync_pipeline.upstream.state import UpstreamState


@dataclass
class Admission:
    """A request that got through: who sent it and what (if anything) will go wrong with it."""

    endpoint: Endpoint
    token: str
    fault: Fault | None
    hostile_data: bool
    repeated_record: bool = False

    def first_to_serve(self, start: int, available: int) -> int:
        """Where a page that would start at `start` starts: one record early when this page is
        shifted (as if a record had been inserted before it) and there is a record before it."""
        if self.fault is not None and self.fault.kind == "shift" and 0 < start <= available:
            self.repeated_record = True
            return start - 1
        return start


Handler = Callable[[UpstreamState, Request, Admission], bytes]


def guarded(name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    endpoint = ENDPOINTS[name]

    async def serve(request: Request) -> Response:
        state: UpstreamState = request.app.state.upstream
        admission_or_refusal = await admit(state, request, endpoint)
        if isinstance(admission_or_refusal, Response):
            return admission_or_refusal
        try:
            body = handler(state, request, admission_or_refusal)
        except ApiError as error:
            return error.response()
        if admission_or_refusal.repeated_record:
            state.stats.fault(endpoint.name, admission_or_refusal.token, "shifted")
        return answer(request, admission_or_refusal, body)

    serve.__name__, serve.__doc__ = handler.__name__, handler.__doc__
    return serve


async def admit(state: UpstreamState, request: Request, endpoint: Endpoint) -> Admission | Response:
    """Either the request's admission (after its latency) or the refusal to send instead."""
    now = time.monotonic()
    token = state.auth.label_for(request.headers.get("authorization"))
    if token is None:
        state.stats.unauthorized(endpoint.name, "rejected")
        return error_response(401, "unauthorized", "a valid bearer token is required")
    stats, settings = state.stats, state.settings[endpoint.source]
    stats.arrived(endpoint.name, token, now)
    refusal = _throttle(state, endpoint, token, now)
    if refusal is not None:
        stats.throttled(endpoint.name, token)
        return refusal
    fault = _draw_fault(state, request, endpoint, token)
    if fault is not None and fault.kind == "storm":
        stats.fault(endpoint.name, token, "storm_started")
        stats.throttled(endpoint.name, token)
        return _start_storm(state, endpoint, token, fault, now)
    stats.admitted(endpoint.name, token, now)
    if fault is not None and fault.kind != "shift":  # a shift is counted once a record was repeated
        stats.fault(endpoint.name, token, fault.stats_kind)
        refusal = await _act_early(state, endpoint, fault)
        if refusal is not None:
            return refusal
    p50, p99 = settings.latency_ms[endpoint.name]
    if p50 > 0:
        await asyncio.sleep(state.faults.latency_s(p50, p99))
    return Admission(endpoint, token, fault, settings.data_oddities)


def _throttle(state: UpstreamState, endpoint: Endpoint, token: str, now: float) -> Response | None:
    """A 429 while a storm rages or when the token bucket is empty, else None (a token was
    taken)."""
    group = endpoint.limit_group
    storm = state.faults.storm_over(token, group, now)
    if storm is not None:
        state.stats.fault(endpoint.name, token, "storm_429")
        return _too_many(storm.until_monotonic - now, storm.date_form)
    limit = state.settings[endpoint.source].limits[group]
    wait = state.limiter.wait_needed(token, group, limit, now)
    if wait > 0:
        hostile = state.settings[endpoint.source].profile == "hostile"
        return _too_many(wait, date_form=hostile and next(state.refusals) % 2 == 1)
    return None


def _draw_fault(
    state: UpstreamState, request: Request, endpoint: Endpoint, token: str
) -> Fault | None:
    rates = state.settings[endpoint.source].rates
    if not any(vars(rates).values()):
        return None
    query = request.url.query
    identity = f"{token}|{request.method} {request.url.path}?{query}"
    continues = endpoint.paged and ("cursor=" in query or _page_after_first(request))
    return state.faults.decide(identity, rates, continues)


def _page_after_first(request: Request) -> bool:
    page = request.query_params.get("page", "1")
    return page.isdigit() and int(page) > 1


def _start_storm(
    state: UpstreamState, endpoint: Endpoint, token: str, fault: Fault, now: float
) -> Response:
    """From now on, for a while, every request of this token and limit group gets 429."""
    length_s = state.settings[endpoint.source].storm_s
    storm = state.faults.start_storm(token, endpoint.limit_group, fault, length_s, now)
    state.stats.fault(endpoint.name, token, "storm_429")
    return _too_many(storm.until_monotonic - now, storm.date_form)


async def _act_early(state: UpstreamState, endpoint: Endpoint, fault: Fault) -> Response | None:
    if fault.kind == "error":
        return error_response(
            fault.status, "upstream_unavailable", "the service is having trouble; retry later"
        )
    if fault.kind == "timeout":
        await asyncio.sleep(
            state.settings[endpoint.source].timeout_s
        )  # then the answer is dropped: see `answer`
    return None


def _too_many(wait_s: float, date_form: bool) -> Response:
    retry_after = (
        retry_after_date(time.time() + wait_s) if date_form else retry_after_seconds(wait_s)
    )
    return error_response(
        429, "rate_limited", "too many requests for this token", {"Retry-After": retry_after}
    )


def answer(request: Request, admission: Admission, body: bytes) -> Response:
    """The body as the client gets it: whole, or broken the way the admission's fault says."""
    gzip_ok = accepts_gzip(request.headers)
    fault = admission.fault
    if fault is None or fault.kind not in ("malformed", "drop", "timeout"):
        return json_response(body, gzip_ok)
    if fault.kind == "malformed":
        if fault.stats_kind == "truncated":
            return json_response(truncated(body, fault.detail), gzip_ok)
        return json_response(NOT_JSON_BODY, gzip_ok, media_type="text/html; charset=utf-8")
    return DroppedResponse(json_response(body, gzip_ok), fault.detail)
