"""The reference upstream service: all five APIs of shared/upstream-api.md, with fault profiles."""
