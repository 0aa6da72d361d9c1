"""The jobs table, described once: every column, its domain type and its storage.

Both SQL stores generate from this description what they used to type by hand:
the column lists of their INSERT, VALUES, ``unnest`` and COPY statements, the
column list of every job read, the conversion of a ``Job`` into parameters and
of a row back into a ``Job``. Adding a column is one ``JobColumn`` here (and a
migration per store); a test checks each store's schema against this table.

A column names its *kind* (the domain type it holds); each backend keeps one
table from kind to conversion (``sqlite/codec.py``, ``postgres/rows.py``), so a
new column of a known kind needs no backend code at all.

Rows are read by name: a store hands the column names of a statement's result
(its cursor's description) to ``compile_reader``, which builds, once per
distinct list of names, a function turning such a row into a ``Job``. Encoders
are built the same way, once at import. Both are generated as plain Python
functions (one expression a column, no per-column loop at run time) because
they sit on the hot paths: every enqueue and every fetched job goes through them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from operator import itemgetter
from typing import Any, TypeAlias

from uno.jobs.jobs import Job, Priority, Status


class Kind(Enum):
    """What a column holds, as the domain sees it; each backend encodes a kind one way."""

    #: ``str`` (or None where the column is nullable), stored as it is.
    TEXT = "text"
    #: ``int``.
    INTEGER = "integer"
    #: ``float`` (or None), seconds.
    FLOAT = "float"
    #: An aware ``datetime`` in UTC (or None).
    TIME = "time"
    #: ``Priority``, stored as its rank (0 = critical) so that ORDER BY fetches by it.
    PRIORITY = "priority"
    #: ``Status``, stored as its value.
    STATUS = "status"
    #: A JSON list (task arguments); empty when unset.
    JSON_LIST = "json list"
    #: A JSON object (keyword arguments, metadata); empty when unset.
    JSON_OBJECT = "json object"
    #: Any JSON value, or None (a task's result).
    JSON = "json"
    #: ``JobError`` or None, stored as a JSON object.
    ERROR = "error"
    #: ``list[str]``; a text array where the database has one.
    TAGS = "tags"
    #: The store's own insertion counter: ties in claim and list order follow it.
    SEQUENCE = "sequence"


#: Kinds read back inside one JSON array (``BUNDLE``): one ``json.loads`` a row.
JSON_KINDS = frozenset({Kind.JSON_LIST, Kind.JSON_OBJECT, Kind.JSON, Kind.ERROR, Kind.TAGS})


@dataclass(frozen=True, slots=True)
class JobColumn:
    """One column of the jobs table in every store."""

    name: str
    kind: Kind
    #: The ``Job`` attribute the column stores; None for columns the store keeps
    #: for itself (never inserted, not part of a ``Job``).
    attribute: str | None
    nullable: bool
    #: Declared type in the SQLite schema.
    sqlite_type: str
    #: Type in the PostgreSQL schema, as ``format_type`` spells it.
    postgres_type: str
    #: Type of the value sent by PostgreSQL's binary COPY (None: not inserted).
    copy_type: str | None = None
    #: Attribute stored instead when ``attribute`` is None (a job known only by
    #: its creation time is due then, and the other way round).
    fallback: str | None = None

    @property
    def in_bundle(self) -> bool:
        """Read back inside the ``BUNDLE`` JSON array rather than as a column of its own."""
        return self.kind in JSON_KINDS


def _column(
    name: str,
    kind: Kind,
    sqlite_type: str,
    postgres_type: str,
    copy_type: str | None,
    *,
    nullable: bool = False,
    fallback: str | None = None,
    stored_by_store: bool = False,
) -> JobColumn:
    attribute = None if stored_by_store else name
    return JobColumn(
        name, kind, attribute, nullable, sqlite_type, postgres_type, copy_type, fallback
    )


_TIME = "timestamp with time zone"

#: Every column of the jobs table. JSON values travel to PostgreSQL's COPY as
#: ``bytea`` holding jsonb's binary format (``postgres/rows.py``), which binary
#: COPY passes through untouched.
JOB_COLUMNS: tuple[JobColumn, ...] = (
    _column("id", Kind.TEXT, "TEXT", "text", "text"),
    _column("seq", Kind.SEQUENCE, "INTEGER", "bigint", None, stored_by_store=True),
    _column("task_name", Kind.TEXT, "TEXT", "text", "text"),
    _column("version", Kind.TEXT, "TEXT", "text", "text", nullable=True),
    _column("args", Kind.JSON_LIST, "TEXT", "jsonb", "bytea"),
    _column("kwargs", Kind.JSON_OBJECT, "TEXT", "jsonb", "bytea"),
    _column("queue_name", Kind.TEXT, "TEXT", "text", "text"),
    _column("priority", Kind.PRIORITY, "INTEGER", "smallint", "int2"),
    _column("status", Kind.STATUS, "TEXT", "text", "text"),
    _column("scheduled_at", Kind.TIME, "REAL", _TIME, "timestamptz", fallback="created_at"),
    _column("created_at", Kind.TIME, "REAL", _TIME, "timestamptz", fallback="scheduled_at"),
    _column("started_at", Kind.TIME, "REAL", _TIME, "timestamptz", nullable=True),
    _column("completed_at", Kind.TIME, "REAL", _TIME, "timestamptz", nullable=True),
    _column("result", Kind.JSON, "TEXT", "jsonb", "bytea", nullable=True),
    _column("error", Kind.ERROR, "TEXT", "jsonb", "bytea", nullable=True),
    _column("retry_count", Kind.INTEGER, "INTEGER", "integer", "int4"),
    _column("max_retries", Kind.INTEGER, "INTEGER", "integer", "int4"),
    _column("retry_delay", Kind.FLOAT, "REAL", "double precision", "float8"),
    _column("tags", Kind.TAGS, "TEXT", "text[]", "bytea"),
    _column("metadata", Kind.JSON_OBJECT, "TEXT", "jsonb", "bytea"),
    _column("worker_id", Kind.TEXT, "TEXT", "text", "text", nullable=True),
    _column("timeout", Kind.FLOAT, "REAL", "double precision", "float8", nullable=True),
    # When the attempt that last started became due: the wait of that attempt.
    _column("attempt_due_at", Kind.TIME, "REAL", _TIME, None, nullable=True, stored_by_store=True),
)

#: The columns an insert writes, in the order of every generated INSERT: a Job's fields.
INSERTED: tuple[JobColumn, ...] = tuple(c for c in JOB_COLUMNS if c.attribute is not None)

#: The columns every job read returns (a claim included): a Job's fields and
#: ``seq``, which breaks ties when a claim's rows are put back in claim order.
READ: tuple[JobColumn, ...] = (*INSERTED, *(c for c in JOB_COLUMNS if c.name == "seq"))

#: The columns of ``READ`` that travel as one JSON array, in array order.
BUNDLED: tuple[JobColumn, ...] = tuple(c for c in READ if c.in_bundle)

#: The result column name of that array.
BUNDLE = "json_fields"

#: The result columns of a job read as both stores write it: the plain columns
#: of ``READ``, then ``BUNDLE``.
READ_RESULT: tuple[str, ...] = (*(c.name for c in READ if not c.in_bundle), BUNDLE)

#: The order in which a claim hands out jobs, as result column names.
CLAIM_ORDER: tuple[str, ...] = ("priority", "scheduled_at", "seq")

COLUMN_BY_NAME: Mapping[str, JobColumn] = {c.name: c for c in JOB_COLUMNS}

#: Domain values and their stored codes, shared by the backends.
PRIORITY_RANK: Mapping[Any, int] = {p: p.rank for p in Priority}
PRIORITY_BY_RANK: tuple[Priority, ...] = tuple(Priority.from_rank(r) for r in range(4))
STATUS_VALUE: Mapping[Any, str] = {s: s.value for s in Status}
STATUS_BY_VALUE: Mapping[str, Status] = {s.value: s for s in Status}


def list_order(order_by: str, direction: str) -> str:
    """The ORDER BY of a job list: the field, then insertion order for ties.

    Jobs without the ordered time come last in either direction; ``NULLS LAST`` is
    written only for nullable columns, because on a NOT NULL column it would stop
    PostgreSQL from reading the index backwards for a descending list (it would sort
    the whole table to return one page).
    """
    nulls = " NULLS LAST" if COLUMN_BY_NAME[order_by].nullable else ""
    return f"{order_by} {direction}{nulls}, seq {direction}"


def names(columns: Sequence[JobColumn], prefix: str = "") -> str:
    """``a, b, c``: the column names, each after ``prefix`` (a table alias and a dot)."""
    return ", ".join(prefix + c.name for c in columns)


# -- conversions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrNone:
    """A conversion that leaves None as None (tested inline, without a call);
    ``after`` are further arguments of ``convert``, after the value."""

    convert: Callable[..., Any]
    after: tuple[Any, ...] = ()


#: How one value changes on its way into or out of a store: None (as it is), a
#: function, a lookup table (a mapping or tuple, subscripted), or ``OrNone``.
Conversion: TypeAlias = Callable[[Any], Any] | Mapping[Any, Any] | tuple[Any, ...] | OrNone | None


def _converted(expr: str, conversion: Conversion, slot: str, namespace: dict[str, Any]) -> str:
    """Python source applying ``conversion`` (bound as ``slot``) to ``expr``."""
    if conversion is None:
        return expr
    if isinstance(conversion, OrNone):
        namespace[slot] = conversion.convert
        after = ""
        for i, argument in enumerate(conversion.after):
            namespace[f"{slot}_{i}"] = argument
            after += f", {slot}_{i}"
        if expr.isidentifier():
            return f"(None if {expr} is None else {slot}({expr}{after}))"
        return f"(None if (v_{slot} := {expr}) is None else {slot}(v_{slot}{after}))"
    namespace[slot] = conversion
    if callable(conversion):
        return f"{slot}({expr})"
    return f"{slot}[{expr}]"


def _define(name: str, source: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    code = compile(source, f"<uno.jobs.store.columns: {name}>", "exec")
    exec(code, namespace)
    function: Callable[..., Any] = namespace[name]
    function.__doc__ = f"Generated from the column spec:\n\n{source}"
    return function


def compile_encoder(
    columns: Sequence[JobColumn], conversions: Mapping[Kind, Conversion], name: str
) -> Callable[[Job], tuple[Any, ...]]:
    """A function from a ``Job`` to the tuple of its values for ``columns``, each
    converted as ``conversions`` says for the column's kind."""
    namespace: dict[str, Any] = {}
    items = []
    for i, column in enumerate(columns):
        if column.attribute is None:
            raise ValueError(f"Column {column.name!r} is kept by the store: it has no Job value")
        value = f"job.{column.attribute}"
        if column.fallback is not None:
            value = f"({value} or job.{column.fallback})"
        items.append(_converted(value, conversions[column.kind], f"c{i}", namespace))
    source = f"def {name}(job):\n    return ({', '.join(items)},)\n"
    return _define(name, source, namespace)


@dataclass(frozen=True, slots=True)
class JobReader:
    """Reads the rows of one result shape: ``job(row)`` builds the Job."""

    #: Result column name -> its index in a row.
    position: Mapping[str, int]
    job: Callable[[Sequence[Any]], Job]

    def key(self, *columns: str) -> Callable[[Sequence[Any]], Any]:
        """A sort key on the named columns of a row."""
        return itemgetter(*(self.position[name] for name in columns))


_JOB_FIELDS = tuple(field.name for field in dataclasses.fields(Job))
_COLUMN_BY_ATTRIBUTE = {c.attribute: c for c in JOB_COLUMNS if c.attribute is not None}


def _targets(prefix: str, count: int) -> str:
    """``(r0, r1, ..., )``: an unpacking target of ``count`` names."""
    return "(" + "".join(f"{prefix}{i}, " for i in range(count)) + ")"


def compile_reader(
    result_names: Sequence[str], conversions: Mapping[Kind, Conversion]
) -> JobReader:
    """A reader of rows whose columns are ``result_names`` (a cursor's description).

    Each Job field is taken from the column of its name or, for the JSON kinds,
    from the ``BUNDLE`` array when the row has one. A field the row lacks raises
    ``ValueError``: a statement whose result cannot make a Job is a bug.
    """
    position = {name: i for i, name in enumerate(result_names)}
    bundle_index = {c.name: i for i, c in enumerate(BUNDLED)}
    namespace: dict[str, Any] = {"Job": Job, "loads": json.loads}
    args = []
    uses_bundle = False
    for i, field in enumerate(_JOB_FIELDS):
        column = _COLUMN_BY_ATTRIBUTE[field]
        if column.name in position:
            expr = f"r{position[column.name]}"
        elif column.name in bundle_index and BUNDLE in position:
            expr = f"f{bundle_index[column.name]}"
            uses_bundle = True
        else:
            raise ValueError(f"A job row needs column {column.name!r}; this one has {result_names}")
        args.append(_converted(expr, conversions[column.kind], f"c{i}", namespace))
    # Unpacking into locals is cheaper than subscripting the row once a field.
    lines = [f"    {_targets('r', len(result_names))} = row"]
    if uses_bundle:
        lines.append(f"    {_targets('f', len(BUNDLED))} = loads(r{position[BUNDLE]})")
    lines.append(f"    return Job({', '.join(args)})")
    source = "def read_job(row):\n" + "\n".join(lines) + "\n"
    return JobReader(position, _define("read_job", source, namespace))
