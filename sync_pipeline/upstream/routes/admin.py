"""`/_admin/*`: reset, mutate, faults and stats of the reference upstream (not part of a real API).

Admin endpoints need the token like any other when one is configured. They run on the event
loop thread, as the API routes do, so nothing else touches the state while they change it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sync_pipeline.errors import ConfigError
from sync_pipeline.upstream.data.churn import Churn
from sync_pipeline.upstream.data.mutate import MutationRequest, mutate
from sync_pipeline.upstream.profiles import ENDPOINTS, SOURCES
from sync_pipeline.upstream.responses import ApiError
from sync_pipeline.upstream.schemas import ChurnRequest, FaultsRequest, MutateRequest, ResetRequest
from sync_pipeline.upstream.sizes import DataSizes
from sync_pipeline.upstream.state import UpstreamState
from sync_pipeline.upstream.stats import Stats

router = APIRouter(prefix="/_admin", tags=["admin"])


def _state(request: Request) -> UpstreamState:
    state: UpstreamState = request.app.state.upstream
    if state.auth.label_for(request.headers.get("authorization")) is None:
        raise ApiError(401, "unauthorized", "a valid bearer token is required")
    return state


@router.get("/info")
async def info(request: Request) -> dict[str, Any]:
    """Seed, sizes, record counts and the profile of each source."""
    state = _state(request)
    return {
        "seed": state.seed,
        "sizes": state.dataset.sizes.as_dict(),
        "counts": state.dataset.counts(),
        "generation_s": round(state.dataset.generation_s, 3),
        "mutations": state.dataset.mutations,
        "profiles": {source: settings.profile for source, settings in state.settings.items()},
        "token_required": state.auth.required,
    }


@router.post("/reset")
async def reset(body: ResetRequest, request: Request) -> dict[str, Any]:
    """Regenerate all data from `seed` and `sizes` (omitted sizes take the defaults)."""
    state = _state(request)
    sizes = _checked(lambda: DataSizes.from_mapping(body.sizes))
    state.reset_data(body.seed, sizes)
    return {
        "seed": body.seed,
        "sizes": sizes.as_dict(),
        "counts": state.dataset.counts(),
        "generation_s": round(state.dataset.generation_s, 3),
    }


@router.post("/mutate")
async def mutate_records(body: MutateRequest, request: Request) -> dict[str, Any]:
    """Change exactly the asked share of one kind of record; answers the ids per kind of change."""
    state = _state(request)
    change = MutationRequest(body.source, body.update, body.touch, body.delete, body.insert)
    return _checked(lambda: mutate(state.dataset, change, state.clock))


@router.post("/churn")
async def start_churn(body: ChurnRequest, request: Request) -> dict[str, Any]:
    """Delete, insert and update records of one kind in the background for `seconds` (a running
    spell is stopped first); answers at once."""
    state = _state(request)
    churn = _checked(lambda: Churn.checked(body.source, body.seconds, body.per_second))
    if state.churn is not None:
        state.churn.stop()
    state.churn = churn
    churn.start(lambda: state.dataset, state.clock)
    return churn.as_json()


@router.get("/churn")
async def churn_progress(request: Request) -> dict[str, Any]:
    """The current (or last) churn spell: whether it runs and the exact ids changed per kind."""
    state = _state(request)
    if state.churn is None:
        raise ApiError(404, "no_churn", "no churn was started")
    return state.churn.as_json()


@router.post("/churn/stop")
async def stop_churn(request: Request) -> dict[str, Any]:
    """Stop the running churn spell now; answers its final state like `GET /_admin/churn`."""
    state = _state(request)
    if state.churn is None:
        raise ApiError(404, "no_churn", "no churn was started")
    state.churn.stop()
    return state.churn.as_json()


@router.get("/faults")
async def faults(request: Request) -> dict[str, Any]:
    """The effective settings of every source."""
    return {
        "sources": {
            source: settings.as_json() for source, settings in _state(request).settings.items()
        }
    }


@router.post("/faults")
async def set_faults(body: FaultsRequest, request: Request) -> dict[str, Any]:
    """Set a profile and/or override rates, limits and latencies for one source or all (`*`)."""
    state = _state(request)
    sources = list(SOURCES) if body.source == "*" else [body.source]
    if body.endpoint is not None and (
        body.endpoint not in ENDPOINTS
        or ENDPOINTS[body.endpoint].source not in sources
        or len(sources) != 1
    ):
        message = f"endpoint {body.endpoint!r} is not an endpoint of source {body.source!r}"
        raise ApiError(400, "invalid_request", message)
    overrides = body.model_dump(exclude_unset=True, exclude={"source", "endpoint", "profile"})
    state.configure(sources, body.profile, overrides, body.endpoint)
    return {"sources": {source: state.settings[source].as_json() for source in sources}}


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    """Requests, 429s, injected faults and peak request rates per endpoint and limit group, per
    token."""
    return _state(request).stats.as_json()


@router.post("/stats/reset")
async def reset_stats(request: Request) -> dict[str, Any]:
    """Forget all stats (rate limit buckets and fault attempts are kept)."""
    state = _state(request)
    state.stats = Stats()
    return {"reset": True}


def _checked(action: Any) -> Any:
    try:
        return action()
    except ConfigError as error:
        raise ApiError(400, "invalid_request", str(error)) from None
