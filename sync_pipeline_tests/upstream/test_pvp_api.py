"""Contract tests of the PvP leaderboards and equipment (upstream-api.md section 4)."""

from __future__ import annotations

import itertools
from urllib.parse import quote

import httpx

from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES
from sync_pipeline_tests.upstream.conftest import assert_error, assert_fields

REGIONS, BRACKETS = ("us", "eu", "kr", "tw"), ("2v2", "3v3", "rbg", "shuffle")
CHARACTER_FIELDS = {"id": int, "name": str, "realm": str, "class": str, "spec": str, "faction": str}


def test_every_board_has_all_entries_ranked_by_rating(api: httpx.Client) -> None:
    for region in REGIONS:
        for bracket in BRACKETS:
            board = api.get(f"/pvp/{region}/leaderboards/{bracket}").json()
            assert_fields(
                board,
                {
                    "season": int,
                    "region": str,
                    "bracket": str,
                    "snapshot_at": "timestamp",
                    "entries": list,
                },
            )
            entries = board["entries"]
            assert len(entries) == TEST_UPSTREAM_SIZES["leaderboard_entries"]
            assert [e["rank"] for e in entries] == list(range(1, len(entries) + 1))
            assert all(a["rating"] >= b["rating"] for a, b in itertools.pairwise(entries))
            assert len({e["character"]["id"] for e in entries}) == len(entries)


def test_entry_fields(api: httpx.Client) -> None:
    for entry in api.get("/pvp/eu/leaderboards/3v3").json()["entries"][:50]:
        assert_fields(entry, {"rank": int, "rating": int, "character": dict, "stats": dict})
        assert_fields(entry["character"], CHARACTER_FIELDS)
        assert_fields(entry["stats"], {"played": int, "won": int, "lost": int})
        assert entry["stats"]["won"] + entry["stats"]["lost"] == entry["stats"]["played"]


def _equipment(api: httpx.Client, region: str, character: dict) -> httpx.Response:
    return api.get(
        f"/characters/{region}/{character['realm']}/{quote(character['name'].lower())}/equipment"
    )


def test_equipment_of_public_characters_and_404s_of_the_others(api: httpx.Client) -> None:
    codes = {}
    for region in ("us", "kr"):
        for entry in api.get(f"/pvp/{region}/leaderboards/2v2").json()["entries"][:150]:
            response = _equipment(api, region, entry["character"])
            if response.status_code == 200:
                equipment = response.json()
                assert_fields(equipment, {"character_id": int, "equipped_items": list})
                assert equipment["character_id"] == entry["character"]["id"]
                for slot in equipment["equipped_items"]:
                    assert_fields(slot, {"slot": str, "item": dict, "enchantments": list})
                    assert_fields(
                        slot["item"], {"id": int, "name": str, "quality": str, "item_level": int}
                    )
                codes["ok"] = codes.get("ok", 0) + 1
            else:
                assert response.status_code == 404
                code = response.json()["error"]["code"]
                assert code in ("character_private", "character_not_found")
                codes[code] = codes.get(code, 0) + 1
    assert codes.get("ok", 0) > 250
    assert codes.get("character_private", 0) >= 1 and codes.get("character_not_found", 0) >= 1


def test_unknown_board_and_character(api: httpx.Client) -> None:
    assert_error(api.get("/pvp/mars/leaderboards/2v2"), 404, "leaderboard_not_found")
    assert_error(api.get("/characters/eu/kazzak/nobodyatall/equipment"), 404, "character_not_found")
