"""Storage: one SQLAlchemy engine per app, a session per app context, migrations with Alembic.

SQLite runs in WAL mode with synchronous=FULL, so a 201 answered to a visitor means the
record is on disk. Writes that extend the hash chain take the write lock up front
(`BEGIN IMMEDIATE` on SQLite, a row lock on PostgreSQL) so two writers never read the same head.
"""
import fcntl
import os
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import current_app, g
from flask.cli import AppGroup
from sqlalchemy import create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(database_url):
    """Create an engine; SQLite gets durable pragmas and explicit transaction control."""
    # hide_parameters: a failed statement's error text never carries a subject id into the logs.
    if not database_url.startswith("sqlite"):
        engine = create_engine(database_url, hide_parameters=True)
        _ping_when_idle(engine)
        return engine

    engine = create_engine(database_url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def set_sqlite_pragmas(dbapi_connection, _record):
        # Let SQLAlchemy emit BEGIN itself (below) instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin_sqlite_transaction(connection):
        write = connection.get_execution_options().get("write_lock", False)
        # On the driver itself: exec_driver_sql costs 0.1 ms of the decision path for one fixed statement.
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


# A connection idle this long is checked with a round trip before it is used again (the database may have
# restarted, or a firewall dropped it). pool_pre_ping checked every checkout: two round trips per decision,
# half of the PostgreSQL decision path's own (issue 18). A busy worker's connections are never this idle.
PING_AFTER_SECONDS = 10


def _ping_when_idle(engine):
    """SQLAlchemy's pessimistic disconnect handling, for connections idle PING_AFTER_SECONDS only: a failed ping
    raises DisconnectionError, on which the pool replaces the connection and checks out again."""
    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def note_last_use(_dbapi_connection, record):
        record.info["last_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("last_used", 0) >= PING_AFTER_SECONDS and not _answers(dbapi_connection):
            raise DisconnectionError("The connection did not answer a ping.")


def _answers(dbapi_connection):
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()  # leave no transaction open behind the ping
        return True
    except Exception:  # noqa: BLE001 - whatever the driver raises, the connection is not usable
        return False


def init_app(app):
    """Bind storage to `app`: engine, per-context session, teardown and the CLI command."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["consent.db"] = sessionmaker(engine, expire_on_commit=False)
    app.extensions["consent.db.writer_queue"] = writer_queue_path(engine)
    app.extensions["consent.db.held"] = HeldConnection(engine)
    app.teardown_appcontext(close_session)


class HeldConnection:
    """The one connection a worker's chain writer keeps between its transactions, instead of a checkout each.

    Checking a connection out of the pool and back, with its options, cost a decision 0.12 ms (issue 18). Only
    the writer whose turn it is uses it (consent/ledger/writer.py), so one thread at a time. After any failed
    transaction it is replaced, and one idle PING_AFTER_SECONDS answers a ping before it is used (not SQLite's:
    a file does not go away). gunicorn forks before the app exists (preload_app False); should a process fork
    with one open anyway, the child keeps the parent's referenced and unused, and opens its own: closing it, or
    returning it to the pool, would talk over the parent's socket.
    """

    def __init__(self, engine):
        self._engine, self._connection, self._owner, self._used_at = engine, None, None, 0.0
        self._inherited = None

    def connection(self):
        if self._owner != os.getpid():
            self._inherited, self._connection = self._connection, None
        idle = time.monotonic() - self._used_at >= PING_AFTER_SECONDS
        if self._connection is not None and idle and self._engine.dialect.name != "sqlite" \
                and not _answers(self._connection.connection.driver_connection):
            self.drop()
        if self._connection is None:
            self._connection = self._engine.connect()
            self._connection.execution_options(write_lock=True)
            self._owner = os.getpid()
        self._used_at = time.monotonic()
        return self._connection

    def drop(self):
        if self._connection is not None and self._owner == os.getpid():
            try:
                self._connection.invalidate()  # never back into the pool: its state is unknown
            except Exception:  # noqa: BLE001, S110 - it is being thrown away; nothing to save
                pass
        self._connection = None


def storable(*texts):
    """Whether every text could be in a row: PostgreSQL refuses NUL in text outright, so a lookup of
    one would fail instead of finding nothing. Callers skip the query and find nothing."""
    return not any("\x00" in text for text in texts)


def get_engine(app):
    return app.extensions["consent.db"].kw["bind"]


def dispose(app):
    """Close every pooled connection and the writer's (tests, and forked workers, start from none)."""
    app.extensions["consent.db.held"].drop()
    get_engine(app).dispose()


def get_session() -> Session:
    """The session of the current app context, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["consent.db"]()
    return g.db_session


class SessionOnFirstUse:
    """get_session()'s session, opened only once something is asked of it: a decision prepared from the worker's
    copy of its site reads nothing before its write, and opening and closing a session it never used cost
    0.08 ms of it (issue 18)."""

    def __getattr__(self, name):
        return getattr(get_session(), name)

    def in_transaction(self):
        return "db_session" in g and g.db_session.in_transaction()


def close_session(_exc=None):
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def writer_queue_path(engine):
    """The lock file SQLite writers queue on, beside the database file; None for other databases."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    return f"{database}-writers.lock" if database and database != ":memory:" else None


@contextmanager
def writer_queue(path):
    """Wait in line for the database's write lock, and be woken as soon as it is free.

    SQLite's own busy handler sleeps and polls (1, 2, 5, ... 100 ms) while another connection
    writes, so under load writers mostly sleep while the database is idle. An exclusive flock,
    taken by every writer of this file in every worker process, is handed over by the kernel
    the moment it is released. A crashed holder's lock dies with it. Each call opens the file
    anew, so threads of one process exclude each other too.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _writers_turn():
    """Wait for this database's writers' queue (SQLite), or nothing (PostgreSQL locks rows instead)."""
    queue_path = current_app.extensions["consent.db.writer_queue"]
    return writer_queue(queue_path) if queue_path else nullcontext()


@contextmanager
def write_connection(held=False):
    """A plain connection whose transaction holds the write lock from its first statement; commits
    when the block ends, rolls back if it raises. For hot paths that need no ORM unit of work.

    `held`: the worker's HeldConnection instead of one from the pool; for the chain writer alone, whose
    turn lets one thread at a time use it.
    """
    if not held:
        with _writers_turn(), get_engine(current_app).connect() as connection:
            connection.execution_options(write_lock=True)
            with connection.begin():
                yield connection
        return
    holder = current_app.extensions["consent.db.held"]
    with _writers_turn():
        connection = holder.connection()
        try:
            with connection.begin():
                yield connection
        except BaseException:
            holder.drop()  # whatever failed, the next transaction starts on a fresh connection
            raise


# Marks the sessions whose transaction holds the write lock (write_transaction's, the chain writer's).
WRITE_LOCK_HELD = {"write_lock_held": True}


@contextmanager
def write_transaction():
    """A session of its own whose transaction holds the write lock from its first statement."""
    with _writers_turn():
        session = current_app.extensions["consent.db"](info=dict(WRITE_LOCK_HELD))
        try:
            session.connection(execution_options={"write_lock": True})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


@contextmanager
def joined_write(session):
    """`session` itself if its transaction holds the write lock, else a write transaction of its own.

    For code that writes now and then from a caller that may be writing already: queueing for a
    second lock while the caller holds the first would wait forever.
    """
    if session.info.get("write_lock_held"):
        yield session
    else:
        with write_transaction() as writer:
            yield writer


def upgrade(app, revision="head"):
    """Apply Alembic migrations up to `revision` on the app's database."""
    _migrate(app, command.upgrade, revision)


def downgrade(app, revision):
    """Undo migrations down to `revision`: a rollback to an older release's schema."""
    _migrate(app, command.downgrade, revision)


def _migrate(app, move, revision):
    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(MIGRATIONS))
    with get_engine(app).begin() as connection:
        alembic_config.attributes["connection"] = connection
        move(alembic_config, revision)


db_cli = AppGroup("db", help="Database schema.")


@db_cli.command("upgrade")
def upgrade_command():
    """Create or migrate the database to the newest schema."""
    upgrade(current_app)
    click.echo("database is at the newest schema")
