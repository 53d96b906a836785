"""The decision path's statements, run on the driver's own cursor: SQLAlchemy's SQL without its cost per execute.

Measured for issue 18 on SQLite: the chain writer's two reads and three inserts took 1.1 ms through
Connection.execute and 0.5 ms through the cursor, in the same transaction. Each statement here is still
a Core construct, compiled once per dialect, so the SQL is SQLAlchemy's for each database; every
parameter goes through its type's bind processor (SQLite's DateTime and Boolean have one), and every
result column through its result processor, as Connection.execute would apply them. The transaction
stays SQLAlchemy's: these run on the DBAPI connection of a Connection that began it.
"""
import functools
from contextlib import nullcontext
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple  # the parameters' names, in the order a positional driver takes them
    positional: bool
    constants: dict  # parameters the statement itself fixes (a LIMIT): not the caller's
    processors: tuple  # (name, bind processor) of the parameters that have one
    results: tuple  # one result processor (or None) per selected column

    def parameters(self, given):
        values = {**self.constants, **given}
        for name, process in self.processors:
            values[name] = process(values[name])
        if self.positional:
            return tuple(values[name] for name in self.names)
        return values

    def row(self, raw):
        if raw is None or not any(self.results):
            return raw
        return tuple(process(value) if process else value for process, value in zip(self.results, raw, strict=True))


_cache = {}


def _compiled(dialect, statement, column_keys):
    key = (dialect.name, dialect.driver, id(statement), column_keys)
    if key not in _cache:
        if column_keys:  # an insert: SQLAlchemy's execution applies Python-side defaults, the driver none
            missing = [column.key for column in statement.table.columns
                       if column.default is not None and column.key not in column_keys]
            if missing:
                raise ValueError(f"Rows for {statement.table.name} must give {', '.join(missing)} (a Python default).")
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        binds = compiled.binds
        names = tuple(compiled.positiontup) if compiled.positional else tuple(binds)
        processors = tuple((name, process) for name in names
                           if (process := binds[name].type.dialect_impl(dialect).bind_processor(dialect)))
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in getattr(statement, "selected_columns", ()))
        constants = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        _cache[key] = _Compiled(compiled.string, names, compiled.positional, constants, processors, results)
    return _cache[key]


def first_rows(connection, statements):
    """The first row (or None) of each (statement, parameters) of `statements`, run in order, each starting once
    the one before has finished: sent together in one pipeline (below), answered in one round trip."""
    cursors = []
    try:
        with pipeline(connection):
            for statement, given in statements:
                compiled = _compiled(connection.dialect, statement, None)
                cursor = connection.connection.cursor()
                cursors.append((compiled, cursor))
                cursor.execute(compiled.sql, compiled.parameters(given))
        # Read once the pipeline has ended: reading inside it would cost a second round trip to end it.
        return [compiled.row(cursor.fetchone()) for compiled, cursor in cursors]
    finally:
        for _compiled_statement, cursor in cursors:
            cursor.close()


def pipeline(connection):
    """Send the statements run in this block without waiting for each answer, where the driver can
    (psycopg's pipeline mode): one round trip to the database instead of one per statement. The chain
    writer holds its site's lock across these round trips, so with the database on another host they
    bound one site's decisions a second (README, "Scale-out"). Elsewhere (SQLite, in process) a no-op.

    An error is raised by the statement that meets it or when the block ends; the statements after it
    in the block are not run.
    """
    driver_connection = connection.connection.driver_connection
    if connection.dialect.driver != "psycopg" or not _pipelines_supported():
        return nullcontext()
    return driver_connection.pipeline()


@functools.cache
def _pipelines_supported():
    import psycopg  # only ever asked with a psycopg connection in hand

    return psycopg.Pipeline.is_supported()  # libpq 14 or later


def insert_all(connection, inserts, commit=False):
    """Run each (insert statement, rows) of `inserts` (insert_rows), in one pipeline: one round trip for them all.

    `commit`: and commit in that same round trip where the driver pipelines (psycopg); the transaction the
    caller's block then ends finds nothing left to commit (psycopg commits nothing outside a transaction).
    Elsewhere the caller's block commits, as it would anyway. A refused insert fails the round trip, commit
    included: nothing of it is stored.
    """
    with pipeline(connection) as pipelined:
        for statement, rows in inserts:
            insert_rows(connection, statement, rows)
        if commit and pipelined is not None:
            # Queued like the inserts: the driver's commit() would wait for its answer, and the pipeline's end
            # for one more.
            cursor = connection.connection.cursor()
            try:
                cursor.execute("COMMIT")
            finally:
                cursor.close()


def insert_rows(connection, statement, rows):
    """Insert `rows` (dicts with the same keys) with the insert `statement`, in one executemany.

    A constraint refusing a row raises the driver's own IntegrityError (is_integrity_error), not SQLAlchemy's.
    """
    compiled = _compiled(connection.dialect, statement, tuple(rows[0]))
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(compiled.sql, list(map(compiled.parameters, rows)))
    finally:
        cursor.close()


def is_integrity_error(error, dialect):
    """Whether `error` is a constraint's refusal, raised by SQLAlchemy or straight by the driver of `dialect`."""
    return isinstance(error, (IntegrityError, dialect.dbapi.IntegrityError))
