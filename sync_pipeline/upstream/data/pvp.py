"""PvP leaderboards (`GET /pvp/{region}/leaderboards/{bracket}`) and character equipment.

Each region has a pool of characters; each bracket's board ranks `leaderboard_entries` of them,
so one character often sits on several boards, as in the real game. Equipment is a pure function
of (seed, character id, gear version): it needs no storage and changes when the character does.
A few characters are private (404 `character_private`) or renamed (404 `character_not_found`)
in every profile: that is how the real API behaves, not a fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from sync_pipeline.upstream.clock import DATA_END_MS, iso_from_ms
from sync_pipeline.upstream.data.oddities import make_odd, oddity_of
from sync_pipeline.upstream.data.rng import pick, stream

REGIONS = ("us", "eu", "kr", "tw")
BRACKETS = ("2v2", "3v3", "rbg", "shuffle")
SEASON = 41
PRIVATE_RATE, RENAMED_RATE = 0.03, 0.015
REALMS = {
    "us": (
        "illidan",
        "tichondrius",
        "area-52",
        "stormrage",
        "sargeras",
        "zuljin",
        "malganis",
        "frostmourne",
        "barthilas",
    ),
    "eu": (
        "tarren-mill",
        "kazzak",
        "draenor",
        "silvermoon",
        "ravencrest",
        "twisting-nether",
        "argent-dawn",
        "hyjal",
        "ysondre",
    ),
    "kr": ("azshara", "hyjal", "burning-legion", "durotan", "windrunner", "alexstrasza"),
    "tw": ("shadowmoon", "world-tree", "arthas", "wrathbringer", "nightsong", "skywall"),
}
CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Warrior", ("Arms", "Fury", "Protection")),
    ("Paladin", ("Holy", "Protection", "Retribution")),
    ("Hunter", ("Beast Mastery", "Marksmanship", "Survival")),
    ("Rogue", ("Assassination", "Outlaw", "Subtlety")),
    ("Priest", ("Discipline", "Holy", "Shadow")),
    ("Death Knight", ("Blood", "Frost", "Unholy")),
    ("Shaman", ("Elemental", "Enhancement", "Restoration")),
    ("Mage", ("Arcane", "Fire", "Frost")),
    ("Warlock", ("Affliction", "Demonology", "Destruction")),
    ("Monk", ("Brewmaster", "Mistweaver", "Windwalker")),
    ("Druid", ("Balance", "Feral", "Guardian", "Restoration")),
    ("Demon Hunter", ("Havoc", "Vengeance")),
    ("Evoker", ("Devastation", "Preservation", "Augmentation")),
)
LATIN_SYLLABLES = (
    "ka",
    "zu",
    "thra",
    "mor",
    "el",
    "un",
    "dra",
    "ri",
    "ël",
    "vy",
    "nx",
    "sha",
    "gor",
    "li",
    "ä",
    "bel",
    "ith",
    "ro",
    "æ",
    "ka",
    "fen",
    "os",
    "tyr",
    "ñ",
    "ul",
    "ven",
    "qi",
    "ró",
    "za",
    "mi",
)
HANGUL_SYLLABLES = (
    "하",
    "늘",
    "바",
    "람",
    "검",
    "달",
    "빛",
    "별",
    "사",
    "냥",
    "꾼",
    "불",
    "꽃",
    "용",
    "기",
    "사",
    "마",
    "법",
)
HAN_CHARACTERS = (
    "風",
    "雲",
    "影",
    "龍",
    "月",
    "光",
    "劍",
    "火",
    "夜",
    "星",
    "神",
    "獵",
    "魔",
    "法",
    "聖",
    "騎",
)
SLOTS = (
    "HEAD",
    "NECK",
    "SHOULDER",
    "BACK",
    "CHEST",
    "WRIST",
    "HANDS",
    "WAIST",
    "LEGS",
    "FEET",
    "FINGER_1",
    "FINGER_2",
    "TRINKET_1",
    "TRINKET_2",
    "MAIN_HAND",
    "OFF_HAND",
)
ENCHANTABLE = {"BACK", "CHEST", "WRIST", "LEGS", "FEET", "FINGER_1", "FINGER_2", "MAIN_HAND"}
SLOT_NOUNS = {
    "HEAD": "Helm",
    "NECK": "Pendant",
    "SHOULDER": "Pauldrons",
    "BACK": "Drape",
    "CHEST": "Hauberk",
    "WRIST": "Bracers",
    "HANDS": "Gauntlets",
    "WAIST": "Girdle",
    "LEGS": "Legplates",
    "FEET": "Sabatons",
    "FINGER_1": "Band",
    "FINGER_2": "Signet",
    "TRINKET_1": "Insignia",
    "TRINKET_2": "Medallion",
    "MAIN_HAND": "Greatblade",
    "OFF_HAND": "Bulwark",
}
ITEM_PREFIXES = (
    "Ashen Gladiator's",
    "Obsidian Gladiator's",
    "Verdant Duelist's",
    "Crimson Combatant's",
    "Ölgran's",
    "Dreamwoven",
    "Stormbound",
    "Cinderforged",
)
ENCHANTS = (
    "Enchanted: +220 Versatility",
    "Enchanted: +150 Critical Strike",
    "Enchanted: Radiant Ward",
    "Enchanted: Swift Stride",
    "Enchanted: Chant of Winged Grace",
    "Inscribed: Sapphire of Haste",
)


@dataclass(eq=False)
class Board:
    region: str
    bracket: str
    snapshot_ms: int
    entries: list[list[int]]  # [character_id, rating, played, won], best first after `rerank`

    def rerank(self) -> None:
        self.entries.sort(key=lambda entry: (-entry[1], entry[0]))


@dataclass
class PvpData:
    """Characters, boards and the per-character facts that the equipment endpoint needs."""

    characters: dict[int, dict[str, Any]]
    boards: dict[tuple[str, str], Board]
    by_path: dict[tuple[str, str, str], int]
    private: set[int]
    renamed: set[int]
    gear_version: dict[int, int] = field(default_factory=dict)
    next_id: int = 0
    bodies: dict[tuple[str, str, bool], bytes] = field(default_factory=dict)

    def board_body(self, seed: int, region: str, bracket: str, hostile: bool) -> bytes | None:
        """The board's JSON (with hostile oddities when asked), built once per change; None if no
        such board."""
        board = self.boards.get((region, bracket))
        if board is None:
            return None
        key = (region, bracket, hostile)
        if key not in self.bodies:
            document = board_document(self, board)
            if hostile:
                document["entries"] = [_odd_entry(seed, entry) for entry in document["entries"]]
            self.bodies[key] = orjson.dumps(document)
        return self.bodies[key]


def generate_pvp(seed: int, entries_per_board: int) -> PvpData:
    rng = stream(seed, "pvp")
    data = PvpData({}, {}, {}, set(), set(), next_id=180_000_000)
    for region in REGIONS:
        pool = add_characters(data, rng, region, max(50, int(entries_per_board * 2.2)))
        for bracket in BRACKETS:
            chosen = rng.choice(pool, size=min(entries_per_board, len(pool)), replace=False)
            snapshot_ms = DATA_END_MS - int(rng.integers(60_000, 7_200_000))
            board = Board(region, bracket, snapshot_ms, entries_for(rng, chosen, bracket))
            board.rerank()
            data.boards[(region, bracket)] = board
    return data


def add_characters(data: PvpData, rng: np.random.Generator, region: str, count: int) -> np.ndarray:
    """Create `count` characters in `region`; returns their ids."""
    realms, classes = pick(rng, REALMS[region], count).tolist(), pick(rng, CLASSES, count).tolist()
    specs, factions = rng.integers(0, 4, count).tolist(), rng.integers(0, 2, count).tolist()
    fates = rng.random(count).tolist()
    ids = (data.next_id + np.cumsum(rng.integers(1, 40, count))).tolist()
    data.next_id = ids[-1] if ids else data.next_id
    for character_id, realm_index, class_index, spec, faction, fate, name in zip(
        ids, realms, classes, specs, factions, fates, candidate_names(rng, region, count)
    ):
        realm, (class_name, specs_of_class) = REALMS[region][realm_index], CLASSES[class_index]
        name = unique_name(data, region, realm, name)
        data.characters[character_id] = {
            "id": character_id,
            "name": name,
            "realm": realm,
            "class": class_name,
            "spec": specs_of_class[spec % len(specs_of_class)],
            "faction": ("alliance", "horde")[faction],
        }
        data.by_path[(region, realm, name.lower())] = character_id
        if fate < PRIVATE_RATE:
            data.private.add(character_id)
        elif fate < PRIVATE_RATE + RENAMED_RATE:
            data.renamed.add(character_id)
    return np.asarray(ids, dtype=np.int64)


def candidate_names(rng: np.random.Generator, region: str, count: int) -> list[str]:
    syllables = {"kr": HANGUL_SYLLABLES, "tw": HAN_CHARACTERS}.get(region, LATIN_SYLLABLES)
    lengths = rng.integers(2, 4 if region in ("kr", "tw") else 5, count).tolist()
    picks = rng.integers(0, len(syllables), (count, 4)).tolist()
    return [
        "".join(syllables[i] for i in row[:length]).capitalize()
        for row, length in zip(picks, lengths)
    ]


def unique_name(data: PvpData, region: str, realm: str, name: str) -> str:
    """`name`, or `name` with a numbered suffix syllable when the realm already has one."""
    suffix = 0
    candidate = name
    while (region, realm, candidate.lower()) in data.by_path:
        suffix += 1
        candidate = (
            f"{name}{LATIN_SYLLABLES[suffix % len(LATIN_SYLLABLES)]}"
            f"{suffix // len(LATIN_SYLLABLES) or ''}"
        )
    return candidate


def entries_for(
    rng: np.random.Generator, character_ids: np.ndarray, bracket: str
) -> list[list[int]]:
    """[character_id, rating, played, won] per character; better ratings win more often."""
    n = len(character_ids)
    top = {"2v2": 3300, "3v3": 3500, "rbg": 3000, "shuffle": 3200}[bracket]
    rating = np.maximum(top - rng.gamma(2.0, 300, n), 1000).astype(np.int64)
    played = rng.integers(20, 900, n)
    won = (played * np.clip(rating / (2 * top) + 0.1, 0.3, 0.8)).astype(np.int64)
    return np.column_stack([character_ids, rating, played, won]).tolist()


def board_document(data: PvpData, board: Board) -> dict[str, Any]:
    return {
        "season": SEASON,
        "region": board.region,
        "bracket": board.bracket,
        "snapshot_at": iso_from_ms(board.snapshot_ms),
        "entries": [
            {
                "rank": rank,
                "rating": rating,
                "character": data.characters[cid],
                "stats": {"played": played, "won": won, "lost": played - won},
            }
            for rank, (cid, rating, played, won) in enumerate(board.entries, start=1)
        ],
    }


def _odd_entry(seed: int, entry: dict[str, Any]) -> dict[str, Any]:
    oddity = oddity_of(seed, "pvp", entry["character"]["id"])
    if oddity is None:
        return entry
    return make_odd({**entry, "character": dict(entry["character"])}, "pvp", oddity)


def equipment(seed: int, data: PvpData, character_id: int) -> dict[str, Any]:
    version = data.gear_version.get(character_id, 0)
    rng = np.random.default_rng([seed, character_id, version])
    items = []
    for slot in SLOTS:
        legendary = slot == "MAIN_HAND" and rng.random() < 0.05
        quality = "LEGENDARY" if legendary else ("EPIC" if rng.random() < 0.85 else "RARE")
        name = f"{ITEM_PREFIXES[int(rng.integers(0, len(ITEM_PREFIXES)))]} {SLOT_NOUNS[slot]}"
        enchants = (
            [ENCHANTS[int(rng.integers(0, len(ENCHANTS)))]]
            if slot in ENCHANTABLE and rng.random() < 0.8
            else []
        )
        item = {
            "id": int(rng.integers(180_000, 225_000)),
            "name": name,
            "quality": quality,
            "item_level": int(rng.integers(606, 640)) + (20 if legendary else 0),
        }
        items.append({"slot": slot, "item": item, "enchantments": enchants})
    return {"character_id": character_id, "equipped_items": items}
