"""Contract tests of `GET /workspaces` and `GET /contacts` (upstream-api.md section 5)."""

from __future__ import annotations

import uuid

import httpx

from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES
from sync_pipeline_tests.upstream.conftest import assert_error, assert_fields, walk_cursor

CONTACT_FIELDS = {
    "id": str,
    "workspace_id": str,
    "name": str,
    "email": str,
    "stage": str,
    "owner_id": (int, type(None)),
    "custom_fields": dict,
    "updated_at": "timestamp",
}
STAGES = {"lead", "mql", "sql", "opportunity", "customer", "churned"}


def _workspaces(api: httpx.Client) -> list[dict]:
    body = api.get("/workspaces").json()
    assert set(body) == {"data"}
    return body["data"]


def test_workspaces(api: httpx.Client) -> None:
    workspaces = _workspaces(api)
    assert len(workspaces) == TEST_UPSTREAM_SIZES["workspaces"]
    for workspace in workspaces:
        assert_fields(workspace, {"id": str, "name": str})


def test_walking_each_workspace_yields_every_contact_once_by_id(api: httpx.Client) -> None:
    seen: list[str] = []
    for workspace in _workspaces(api):
        contacts = walk_cursor(api, "/contacts", 137, {"workspace_id": workspace["id"]})
        ids = [c["id"] for c in contacts]
        assert ids == sorted(ids)
        for contact in contacts:
            assert_fields(contact, CONTACT_FIELDS)
            assert contact["workspace_id"] == workspace["id"] and contact["stage"] in STAGES
            assert uuid.UUID(contact["id"]).version == 4
            assert all(
                isinstance(v, (str, int, float, bool, type(None)))
                for v in contact["custom_fields"].values()
            )
        seen += ids
    assert len(seen) == len(set(seen)) == TEST_UPSTREAM_SIZES["contacts"]


def test_updated_since_is_inclusive(api: httpx.Client) -> None:
    workspace_id = _workspaces(api)[0]["id"]
    everyone = walk_cursor(api, "/contacts", 500, {"workspace_id": workspace_id})
    pivot = sorted(c["updated_at"] for c in everyone)[len(everyone) // 2]
    recent = walk_cursor(
        api, "/contacts", 50, {"workspace_id": workspace_id, "updated_since": pivot}
    )
    assert {c["id"] for c in recent} == {c["id"] for c in everyone if c["updated_at"] >= pivot}


def test_workspace_is_required_and_must_exist(api: httpx.Client) -> None:
    assert_error(api.get("/contacts"), 400, "invalid_parameter")
    assert_error(
        api.get("/contacts", params={"workspace_id": "ws_missing"}), 404, "workspace_not_found"
    )
    assert_error(
        api.get("/contacts", params={"workspace_id": _workspaces(api)[0]["id"], "limit": 501}),
        400,
        "invalid_parameter",
    )
