"""PvP leaderboards in Dagster: region x bracket partitions, leaderboard, characters and
equipment assets, their checks, the job and its schedule."""
