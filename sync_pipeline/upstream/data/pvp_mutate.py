"""`/_admin/mutate` for `pvp`: the records are the characters on the leaderboards.

update: new rating and games on every board the character is on, and new equipment.
touch: the boards it is on are re-snapshotted (new `snapshot_at`) with nothing else changed.
delete: off every board, and its equipment answers 404 `character_not_found`.
insert: new characters in random regions, each on one to four boards of its region.
Every board that changed is re-ranked and stamped with the mutation time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sync_pipeline.upstream.data.pvp import BRACKETS, REGIONS, Board, add_characters, entries_for

if TYPE_CHECKING:
    from sync_pipeline.upstream.data.dataset import Dataset
    from sync_pipeline.upstream.data.mutate import MutationRequest


def mutate_pvp(
    dataset: Dataset, request: MutationRequest, rng: np.random.Generator, stamp_ms: int
) -> dict[str, list[Any]]:
    data = dataset.pvp
    on_boards = sorted({entry[0] for board in data.boards.values() for entry in board.entries})
    n_update, n_touch, n_delete, n_insert = request.counts(len(on_boards))
    chosen = [
        on_boards[i]
        for i in rng.permutation(len(on_boards))[: n_update + n_touch + n_delete].tolist()
    ]
    updated, touched = sorted(chosen[:n_update]), sorted(chosen[n_update : n_update + n_touch])
    deleted = sorted(chosen[n_update + n_touch :])
    boards = data.boards.values()
    changed_boards = _update(boards, set(updated), rng) | _boards_holding(boards, set(touched))
    changed_boards |= _delete(boards, set(deleted))
    for character_id in updated:
        data.gear_version[character_id] = data.gear_version.get(character_id, 0) + 1
    data.renamed.update(deleted)
    inserted, boards_with_new = _insert(dataset, rng, n_insert)
    for board in changed_boards | boards_with_new:
        board.rerank()
        board.snapshot_ms = stamp_ms
    data.bodies.clear()
    return {"updated": updated, "touched": touched, "deleted": deleted, "inserted": inserted}


def _boards_holding(boards: Any, characters: set[int]) -> set[Board]:
    return {board for board in boards if any(entry[0] in characters for entry in board.entries)}


def _update(boards: Any, characters: set[int], rng: np.random.Generator) -> set[Board]:
    changed = set()
    for board in boards:
        for entry in board.entries:
            if entry[0] in characters:
                games = int(rng.integers(1, 30))
                wins = int(rng.integers(0, games + 1))
                entry[1] = max(1000, entry[1] + (wins - (games - wins)) * 12)
                entry[2] += games
                entry[3] += wins
                changed.add(board)
    return changed


def _delete(boards: Any, characters: set[int]) -> set[Board]:
    changed = set()
    for board in boards:
        kept = [entry for entry in board.entries if entry[0] not in characters]
        if len(kept) != len(board.entries):
            board.entries = kept
            changed.add(board)
    return changed


def _insert(dataset: Dataset, rng: np.random.Generator, count: int) -> tuple[list[int], set[Board]]:
    data, inserted, changed = dataset.pvp, [], set()
    for region_index in rng.integers(0, len(REGIONS), count).tolist():
        region = REGIONS[region_index]
        character_id = int(add_characters(data, rng, region, 1)[0])
        for bracket in rng.permutation(BRACKETS)[
            : int(rng.integers(1, len(BRACKETS) + 1))
        ].tolist():
            board = data.boards[(region, bracket)]
            board.entries += entries_for(rng, np.array([character_id]), bracket)
            changed.add(board)
        inserted.append(character_id)
    return inserted, changed
