"""One partition per leaderboard: region x bracket (4 x 4).

Dagster orders the dimensions by name, so its keys read `bracket|region` (`3v3|eu`);
`board_for_key` and `partition_key_for` also take the `region|bracket` form users type.
"""

import dagster as dg

from sync_pipeline.entities.pvp import BRACKETS, REGIONS
from sync_pipeline.errors import ConfigError
from sync_pipeline.pipelines.pvp.leaderboard import Board

pvp_partitions = dg.MultiPartitionsDefinition(
    {
        "region": dg.StaticPartitionsDefinition(list(REGIONS)),
        "bracket": dg.StaticPartitionsDefinition(list(BRACKETS)),
    }
)


def board_for_context(context: dg.AssetExecutionContext) -> Board:
    key = context.partition_key
    dimensions = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else None
    if dimensions is None:
        return board_for_key(str(key))
    return Board(dimensions["region"], dimensions["bracket"])


def board_for_key(text: str) -> Board:
    """`eu|3v3` or `3v3|eu` as a board; `ConfigError` for anything else."""
    parts = text.split("|")
    if len(parts) == 2:
        first, second = parts
        if first in REGIONS and second in BRACKETS:
            return Board(first, second)
        if first in BRACKETS and second in REGIONS:
            return Board(second, first)
    raise ConfigError(
        f"{text!r} is not a pvp partition; write region|bracket, e.g. eu|3v3 "
        f"(regions {', '.join(REGIONS)}; brackets {', '.join(BRACKETS)})"
    )


def partition_key_for(board: Board) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"region": board.region, "bracket": board.bracket})
