"""The HTTP side of the sync engine: one `ApiClient` per upstream, and paginators on top of it.

    config = ClientConfig(base_url, token=Secret(token), name="cars", rps=20, concurrency=16)
    async with ApiClient(config) as client, ProgressReporter(client.metrics, "cars") as progress:
        async for page in fetch_pages(client, PagedListing("/cars", "items", "page_size", 1000),
                                      key=lambda car: car["id"], progress=progress):
            ...  # load page.records, then checkpoint page.number

Modules, in the order a request meets them: `config` (settings, the masked token),
`circuit_breaker`, `token_bucket` / `shared_bucket` / `window_cap` (rate limits), `client`,
`transport` and `attempt` (one GET on the wire, its verdict), `retry` (waits and giving up),
`page` / `pagination` / `concurrency` (walking a listing), `metrics` / `histogram` / `progress`
(what a run did). No Dagster here.
"""

from sync_pipeline.engine.http.circuit_breaker import BreakerState, CircuitBreaker
from sync_pipeline.engine.http.client import ApiClient, build_limiter
from sync_pipeline.engine.http.concurrency import ordered_map
from sync_pipeline.engine.http.config import ClientConfig, Secret, Timeouts, shared_key_for
from sync_pipeline.engine.http.errors import (
    ApiError,
    AuthError,
    BadRequest,
    CircuitOpen,
    ConfigurationError,
    ErrorClass,
    Forbidden,
    MalformedBody,
    RateLimiterUnavailable,
    RequestRejected,
    RetryBudgetExhausted,
)
from sync_pipeline.engine.http.metrics import HttpMetrics
from sync_pipeline.engine.http.page import DuplicateFilter, Page
from sync_pipeline.engine.http.pagination import PagedListing, fetch_cursor_pages, fetch_pages
from sync_pipeline.engine.http.progress import ProgressReporter
from sync_pipeline.engine.http.responses import ApiResponse, NotFound
from sync_pipeline.engine.http.shared_bucket import SharedTokenBucket
from sync_pipeline.engine.http.token_bucket import RateLimiter, TokenBucket
from sync_pipeline.engine.http.transport import AiohttpTransport
from sync_pipeline.engine.http.window_cap import WindowCap

__all__ = [
    "AiohttpTransport",
    "ApiClient",
    "ApiError",
    "ApiResponse",
    "AuthError",
    "BadRequest",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "ClientConfig",
    "ConfigurationError",
    "DuplicateFilter",
    "ErrorClass",
    "Forbidden",
    "HttpMetrics",
    "MalformedBody",
    "NotFound",
    "Page",
    "PagedListing",
    "ProgressReporter",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RequestRejected",
    "RetryBudgetExhausted",
    "Secret",
    "SharedTokenBucket",
    "Timeouts",
    "TokenBucket",
    "WindowCap",
    "build_limiter",
    "fetch_cursor_pages",
    "fetch_pages",
    "ordered_map",
    "shared_key_for",
]
