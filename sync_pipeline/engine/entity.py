"""`EntitySpec`: what the engine needs to know about one synced entity and its table.

One table per source entity, named after it: a column per top-level contract field (nested
objects and lists as jsonb), plus the bookkeeping columns every synced table has (`extra`,
`fingerprint`, `deleted_at`, `first_seen_at`, `synced_at`, `last_run_id`; see sql/003_cars.sql).

- `key`: the column(s) that identify a record; always required.
- `volatile`: fields that change without business meaning. They are stored but left out of the
  fingerprint, so a change of only those never writes the row. May name fields that are not
  columns (they then land in `extra`, still outside the fingerprint).
- `scope`: the column(s) a full snapshot is taken over, e.g. `("store_code",)` for one store's
  users; empty when a snapshot covers the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from psycopg import sql

from sync_pipeline.engine.column_types import ColumnType

EXTRA_COLUMN = "extra"
BOOKKEEPING_COLUMNS = (
    EXTRA_COLUMN,
    "fingerprint",
    "deleted_at",
    "first_seen_at",
    "synced_at",
    "last_run_id",
)


class SpecError(ValueError):
    """An `EntitySpec` that contradicts itself (or its table)."""


@dataclass(frozen=True)
class Column:
    """A top-level record field stored in the column of the same name.

    `required`: a record without the field (or with null) is quarantined; key columns always are.
    """

    name: str
    type: ColumnType
    required: bool = False


@dataclass(frozen=True, eq=False)
class EntitySpec:
    """A source entity: its table, key, typed columns, volatile fields and snapshot scope.

    Compared and hashed by identity: specs are module-level constants.
    """

    source: str
    table: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    volatile: frozenset[str] = field(default_factory=frozenset)
    scope: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        problems = []
        if len(set(names)) != len(names):
            problems.append("column names repeat")
        if not self.key:
            problems.append("no key column")
        problems += [f"key {k!r} is not a column" for k in self.key if k not in names]
        problems += [f"scope {s!r} is not a column" for s in self.scope if s not in names]
        problems += [f"key {k!r} cannot be volatile" for k in self.key if k in self.volatile]
        problems += [
            f"{n!r} is a bookkeeping column name" for n in names if n in BOOKKEEPING_COLUMNS
        ]
        problems += [
            f"key {c.name!r} has type {c.type.sql_name}, not usable as a key"
            for c in self.columns
            if c.name in self.key and c.type.key_value is None
        ]
        if problems:
            raise SpecError(f"entity {self.table!r}: " + "; ".join(problems))

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @cached_property
    def known_fields(self) -> frozenset[str]:
        """Fields stored in columns of their own; any other field goes to `extra`."""
        return frozenset(self.column_names)

    @cached_property
    def fingerprint_excluded(self) -> frozenset[str]:
        """Fields left out of the fingerprint: the key (it identifies, not describes) and
        volatile."""
        return frozenset(self.key) | self.volatile

    @cached_property
    def diff_columns(self) -> tuple[str, ...]:
        """Columns whose changes the change log records: business columns and `extra`."""
        return tuple(n for n in self.column_names if n not in self.fingerprint_excluded) + (
            EXTRA_COLUMN,
        )

    @cached_property
    def copy_columns(self) -> tuple[str, ...]:
        """The columns a staged row holds, in row order: fields, then `extra`, `fingerprint`."""
        return self.column_names + (EXTRA_COLUMN, "fingerprint")

    @cached_property
    def key_types(self) -> tuple[ColumnType, ...]:
        by_name = {c.name: c.type for c in self.columns}
        return tuple(by_name[k] for k in self.key)

    @property
    def table_sql(self) -> sql.Identifier:
        """The table as a quoted identifier (`schema.table` allowed)."""
        return sql.Identifier(*self.table.split("."))

    def key_sql(self, alias: str | None = None) -> sql.Composed:
        """The key column list, e.g. `"t"."id"`, ready to put in a statement."""
        return sql.SQL(", ").join(_qualified(alias, k) for k in self.key)

    def key_select_sql(self, alias: str | None = None) -> sql.Composed:
        """The key columns cast so they read back equal to the converted record values."""
        parts = []
        for name, ctype in zip(self.key, self.key_types):
            column = _qualified(alias, name)
            parts.append(
                sql.SQL("{}::{}").format(column, sql.SQL(ctype.key_cast))
                if ctype.key_cast
                else column
            )
        return sql.SQL(", ").join(parts)

    def key_text_sql(self, alias: str) -> sql.Composable:
        """The key as text, as the change log and quarantine store it (see `records.key_text`)."""
        if len(self.key) == 1:
            return sql.SQL("{}::text").format(_qualified(alias, self.key[0]))
        return sql.SQL("jsonb_build_array({})::text").format(self.key_sql(alias))

    def key_in_sql(self, alias: str | None = None) -> sql.Composed:
        """`(key columns) IN (SELECT * FROM unnest(%s::type[], ...))`; bind `key_arrays(keys)`."""
        arrays = sql.SQL(", ").join(
            sql.SQL("%s::{}[]").format(sql.SQL(t.sql_name)) for t in self.key_types
        )
        return sql.SQL("({}) IN (SELECT * FROM unnest({}))").format(self.key_sql(alias), arrays)

    def key_arrays(self, keys: list) -> list[list]:
        """One list per key column, to bind to `key_in_sql`."""
        if len(self.key) == 1:
            return [list(keys)]
        return [list(column) for column in zip(*keys)] if keys else [[] for _ in self.key]


def _qualified(alias: str | None, column: str) -> sql.Identifier:
    return sql.Identifier(alias, column) if alias else sql.Identifier(column)
