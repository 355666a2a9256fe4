"""The ASGI app: the five APIs of upstream-api.md, the admin endpoints and the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from sync_pipeline.upstream import schemas
from sync_pipeline.upstream.gate import Handler, guarded
from sync_pipeline.upstream.responses import ApiError, error_response
from sync_pipeline.upstream.routes import admin, cars, contacts, pvp, stores, users
from sync_pipeline.upstream.state import UpstreamState

TS = "ISO 8601 UTC timestamp, e.g. 2026-11-23T08:15:00.123Z"
# The query of the stores listings (the store list, a store's users, its videos).
CURSOR_PAGE_PARAMS = (
    ("cursor", "string", "next_cursor of the previous page"),
    ("limit", "integer", "1-100, default 50"),
)


@dataclass(frozen=True)
class ApiRoute:
    path: str
    endpoint: str
    handler: Handler
    model: type[BaseModel]
    query: tuple[tuple[str, str, str], ...] = ()  # (name, JSON type, description)
    errors: tuple[int, ...] = ()


API_ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "/cars",
        "cars.list",
        cars.list_cars,
        schemas.CarPage,
        (
            ("page", "integer", "from 1"),
            ("page_size", "integer", "1-1000, default 100"),
            ("updated_since", "string", f"inclusive; {TS}"),
            ("updated_until", "string", f"exclusive; {TS}"),
        ),
    ),
    ApiRoute(
        "/users",
        "users.list",
        users.list_users,
        schemas.UserPage,
        (
            ("updated_since", "string", f"inclusive; {TS}"),
            ("updated_until", "string", f"exclusive; {TS}"),
            ("page", "integer", "from 1"),
            ("per_page", "integer", "1-500, default 100"),
        ),
    ),
    ApiRoute("/users/{user_id}", "users.detail", users.get_user, schemas.UserDetail, errors=(404,)),
    ApiRoute(
        "/stores",
        "stores.list",
        stores.list_stores,
        schemas.StorePage,
        CURSOR_PAGE_PARAMS,
    ),
    ApiRoute(
        "/stores/{code}/users",
        "stores.users",
        stores.list_store_users,
        schemas.StoreUserPage,
        CURSOR_PAGE_PARAMS,
        (403, 404),
    ),
    ApiRoute(
        "/stores/{code}/videos",
        "stores.videos",
        stores.list_store_videos,
        schemas.VideoPage,
        CURSOR_PAGE_PARAMS,
        (403, 404),
    ),
    ApiRoute(
        "/pvp/{region}/leaderboards/{bracket}",
        "pvp.leaderboard",
        pvp.get_leaderboard,
        schemas.Leaderboard,
        errors=(404,),
    ),
    ApiRoute(
        "/characters/{region}/{realm}/{name}/equipment",
        "pvp.equipment",
        pvp.get_equipment,
        schemas.Equipment,
        errors=(404,),
    ),
    ApiRoute("/workspaces", "contacts.workspaces", contacts.list_workspaces, schemas.WorkspaceList),
    ApiRoute(
        "/contacts",
        "contacts.list",
        contacts.list_contacts,
        schemas.ContactPage,
        (
            ("workspace_id", "string", "required"),
            ("updated_since", "string", f"inclusive; {TS}"),
            ("cursor", "string", "next_cursor of the previous page"),
            ("limit", "integer", "1-500, default 100"),
        ),
        (404,),
    ),
)


def create_app(state: UpstreamState) -> FastAPI:
    app = FastAPI(
        title="sync_pipeline reference upstream",
        version="1.0",
        description="Users, cars, stores, PvP and contacts APIs of upstream-api.md, "
        "with fault profiles.",
        redoc_url=None,
    )
    app.state.upstream = state
    for route in API_ROUTES:
        app.add_api_route(
            route.path,
            guarded(route.endpoint, route.handler),
            methods=["GET"],
            name=route.endpoint,
            response_class=Response,
            response_model=None,
            tags=[route.endpoint.split(".")[0]],
            responses=_documented_responses(route),
            openapi_extra={"parameters": _parameters(route)},
        )
    app.include_router(admin.router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


def _documented_responses(route: ApiRoute) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {200: {"model": route.model, "description": "OK"}}
    for status in (*route.errors, 400, 401, 429, 500, 502, 503, 504):
        responses[status] = {"model": schemas.ErrorBody, "description": "error"}
    return responses


def _parameters(route: ApiRoute) -> list[dict[str, Any]]:
    path_names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_names
    ] + [
        {
            "name": name,
            "in": "query",
            "required": description == "required",
            "description": description,
            "schema": {"type": kind},
        }
        for name, kind, description in route.query
    ]


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error.response()


async def _invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    return error_response(400, "invalid_request", problems)
