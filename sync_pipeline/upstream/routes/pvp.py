"""`GET /pvp/{region}/leaderboards/{bracket}` and
`GET /characters/{region}/{realm}/{name}/equipment`."""

from __future__ import annotations

import orjson
from starlette.requests import Request

from sync_pipeline.upstream.data.pvp import equipment
from sync_pipeline.upstream.gate import Admission
from sync_pipeline.upstream.responses import ApiError
from sync_pipeline.upstream.state import UpstreamState


def get_leaderboard(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """A whole leaderboard (all entries in one response), best rating first."""
    region, bracket = request.path_params["region"], request.path_params["bracket"]
    body = state.dataset.pvp.board_body(state.seed, region, bracket, admission.hostile_data)
    if body is None:
        raise ApiError(404, "leaderboard_not_found", f"no {bracket} leaderboard in region {region}")
    return body


def get_equipment(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """A character's equipped items; 404 `character_private` or `character_not_found`."""
    region, realm, name = (request.path_params[key] for key in ("region", "realm", "name"))
    data = state.dataset.pvp
    character_id = data.by_path.get((region, realm, name.lower()))
    if character_id is None or character_id in data.renamed:
        raise ApiError(404, "character_not_found", f"no character {name} on {region}/{realm}")
    if character_id in data.private:
        raise ApiError(
            404, "character_private", f"the profile of {name} on {region}/{realm} is private"
        )
    return orjson.dumps(equipment(state.seed, data, character_id))
