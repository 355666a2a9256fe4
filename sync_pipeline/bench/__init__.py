"""Benchmarks behind `sync-pipeline bench NAME`.

Each benchmark is a module here with `run(options: BenchOptions) -> BenchReport`; `BENCHMARKS`
maps the name users type to that module, imported only when asked for.
"""

BENCHMARKS: dict[str, str] = {
    "upstream": "sync_pipeline.bench.upstream",
    "http": "sync_pipeline.bench.http",
    "limiter": "sync_pipeline.bench.limiter",
    "load": "sync_pipeline.bench.load",
    "cars": "sync_pipeline.bench.cars",
    "users": "sync_pipeline.bench.users",
    "pvp": "sync_pipeline.bench.pvp",
    "stores": "sync_pipeline.bench.stores",
    "contacts": "sync_pipeline.bench.contacts",
    "scale": "sync_pipeline.bench.scale",
}
