"""One busy site against its chain heads (issue 19): decisions a second by lanes, writers, the database near and far.

Every decision holds its lane's lock (the lane's chain head) from the statement that takes it to its commit,
so one lane cannot go faster than one lock holder at a time, however many workers or hosts write. With the
database on another host each hold lasts a round trip plus the commit. A site of one lane (the default) is
capped so; a site of several lanes (consent/ledger/lanes.py) has as many locks. This shows the curve, for a
site of 1 lane and of 4: the production gunicorn (sync workers, 1, 2, 4 and 8 of them, and 2 gthread workers of 4
threads, whose decisions share transactions: group commit as consent/ledger/writer.py does it) against
PostgreSQL with fsync on, reached directly (0 ms) and through bench/latency_proxy.py at 1 ms and 3 ms of
added round trip; wrk from 16 connections, every decision for the demo site, as fast as answered. Every
acknowledged decision is checked to be stored, and every lane's chain to verify. Each decision is by a new
visitor, so decisions spread over the lanes as visitors do.

Beside it, in one process (Flask's test client, one decision at a time): the round trips a decision and
its write transaction make through the proxy, and the transaction's time at each round trip. They give
the model the table is compared with: one site's cap near batch / (k * rtt + hold at 0 ms).

    .venv/bin/python -m bench.single_site [--rtt 0,1,3] [--writers 1,2,4,8,2x4] [--lanes 1,4] [--seconds 4]
    (about 5 minutes)
"""
import argparse
import statistics
import tempfile
import time
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import psycopg

from bench.common import (
    BENCH_ORIGIN,
    ROOMY_LIMITS,
    SECRET_KEY,
    bench_app,
    durable_postgres,
    machine_note,
    ms,
    prepare_database,
    print_table,
    wrk,
)
from bench.latency_proxy import LatencyProxy
from bench.server import CONNECTIONS, check_durability, label, parse_shapes
from bench.stats import decider
from consent.ledger import writer
from consent.sites import configs
from consent.storage import db
from tests.server import GunicornServer

TEMPLATE = "single_site_template"
IN_PROCESS_DECISIONS = 60
SHAPES = ((1, 1), (2, 1), (4, 1), (8, 1), (2, 4))
LANES = (1, 4)
# The writer's transaction opens with BEGIN (a round trip before the lock) and the locking statement, whose way
# to the server is before the lock too; the lock goes with the commit, before the answer's way back. So of the
# transaction's round trips, all but these two are under the lock.
ROUND_TRIPS_OUTSIDE_LOCK = 2


def database_url(cluster, name, proxy):
    """The database through `proxy`, or directly without one."""
    return f"postgresql+psycopg://consent@127.0.0.1:{proxy.port}/{name}" if proxy else cluster.url(name)


def new_database(cluster, name, lanes=1):
    """A copy of the prepared template of a site of `lanes` lanes (migrated, the demo site imported): a log of its
    own, in a moment."""
    cluster.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}_{lanes}")
    return name


def prepare_templates(cluster, lane_counts):
    """A template database for each lane count: the demo site, with that many lanes; returns the site config."""
    for lanes in lane_counts:
        cluster.execute(f"CREATE DATABASE {TEMPLATE}_{lanes}")
        config = prepare_database(cluster.url(f"{TEMPLATE}_{lanes}"))
        if lanes > 1:
            app = bench_app(cluster.url(f"{TEMPLATE}_{lanes}"))
            with app.app_context(), db.write_transaction() as session:
                configs.import_site(session, {**config, "lanes": lanes})
            db.dispose(app)
    return config


def near_or_far(cluster, rtt_ms):
    return LatencyProxy("127.0.0.1", cluster.port, rtt_ms) if rtt_ms else nullcontext()


@contextmanager
def timed_writes(proxy):
    """Each write transaction's time (ms) and round trips through `proxy`, while the block runs."""
    times, round_trips, original = [], [], writer._write

    def write(batch):
        started, trips = time.perf_counter(), proxy.round_trips if proxy else 0
        original(batch)
        times.append((time.perf_counter() - started) * 1000)
        round_trips.append((proxy.round_trips if proxy else 0) - trips)

    writer._write = write
    try:
        yield times, round_trips
    finally:
        writer._write = original


def select_one_ms(cluster, name, proxy):
    """The median round trip to the database as the app sees it: SELECT 1, 50 times."""
    port = proxy.port if proxy else cluster.port
    with psycopg.connect(f"host=127.0.0.1 port={port} user=consent dbname={name}", autocommit=True) as connection:
        times = []
        for _ in range(50):
            started = time.perf_counter()
            connection.execute("SELECT 1").fetchone()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def warm(decide):
    """Past what only a worker's first decisions do: read the site, and have psycopg prepare the writer's statements
    (on their fifth use, a round trip each)."""
    for _ in range(10):
        decide()


def write_path(cluster, config, rtt_ms, decisions=IN_PROCESS_DECISIONS):
    """One decision at a time in process: its time, its write transaction's time and round trips, at `rtt_ms`.

    Round trips are counted through a proxy even at 0 ms (one that adds nothing); times are taken without one.
    """
    name = new_database(cluster, f"path_{rtt_ms:g}ms".replace(".", "_"))
    with near_or_far(cluster, rtt_ms) as proxy, LatencyProxy("127.0.0.1", cluster.port, 0) as counter:
        timing_proxy = proxy  # None at 0 ms: directly
        app = bench_app(database_url(cluster, name, timing_proxy), CONSENT_REQUEST_LOG=False)
        warm(decide := decider(app, config))
        decision_times = []
        with timed_writes(timing_proxy) as (write_times, _trips):
            for _ in range(decisions):
                started = time.perf_counter()
                decide()
                decision_times.append((time.perf_counter() - started) * 1000)
        db.dispose(app)
        counted = bench_app(database_url(cluster, name, counter), CONSENT_REQUEST_LOG=False)
        warm(decide := decider(counted, config))
        before = counter.round_trips
        with timed_writes(counter) as (_times, write_trips):
            for _ in range(10):
                decide()
        per_decision = (counter.round_trips - before) / 10
        db.dispose(counted)
        rtt_seen = select_one_ms(cluster, name, timing_proxy)
    write_ms = statistics.median(write_times)
    return {"rtt_ms": rtt_ms, "rtt_seen_ms": rtt_seen, "decision_ms": statistics.median(decision_times),
            "write_ms": write_ms, "round_trips": per_decision, "write_round_trips": statistics.median(write_trips),
            "hold_ms": write_ms - ROUND_TRIPS_OUTSIDE_LOCK * rtt_seen}


def write_transactions(cluster, name):
    """How many transactions wrote the stored decisions: each row's xmin is the transaction that inserted it."""
    dsn = f"host=127.0.0.1 port={cluster.port} user=consent dbname={name}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute("SELECT count(DISTINCT xmin::text) FROM consent_events").fetchone()[0]


def measure(cluster, config, rtt_ms, shape, seconds, workdir, lanes=1):
    """One point: the server at `shape` against the database `rtt_ms` away, the site in `lanes` lanes, loaded for
    `seconds`, then checked."""
    workers, threads = shape
    name = new_database(cluster, f"site_{lanes}l_{rtt_ms:g}ms_{workers}x{threads}".replace(".", "_"), lanes)
    post = ["post", BENCH_ORIGIN, config["id"], config["policy"]["version"]]
    log = Path(workdir) / f"gunicorn-{name}.log"
    with near_or_far(cluster, rtt_ms) as proxy, \
            GunicornServer(database_url(cluster, name, proxy), workers=workers, threads=threads, log_path=log,
                           SECRET_KEY=SECRET_KEY, **ROOMY_LIMITS) as server:
        url = server.url + "/api/v1/consents"
        warm = wrk(url, post, CONNECTIONS, 1)  # every worker connects through the proxy before the count
        full = wrk(url, post, CONNECTIONS, seconds)
    transactions = write_transactions(cluster, name)
    app = bench_app(cluster.url(name))
    acknowledged, stored = check_durability(app, config["id"], warm, [full], log)
    db.dispose(app)
    # Per stored decision, over the server's whole life: a worker still answers the requests wrk left queued when
    # it stopped, so those made round trips too. (Each worker's first reads of the site are counted in: a few.)
    return {"full": full, "acknowledged": acknowledged, "stored": stored, "per_transaction": stored / transactions,
            "round_trips": proxy.round_trips / stored if proxy else None}


def model_per_second(path, shape, per_transaction, lanes):
    """What the model allows, CPU not counted: the writers, each one decision at a time taking as long as in
    process (no HTTP), and the lanes' locks, each one transaction at a time, held as long as in process (no
    waiting for a core), for a batch as large as measured (1 for sync workers). The lanes' figure is a bound:
    writers spread over the lanes at random, so some wait for a lane while another is free."""
    workers, threads = shape
    return (workers * threads * 1000 / path["decision_ms"],
            lanes * max(1.0, per_transaction) * 1000 / path["hold_ms"])


def run(rtts=(0, 1, 3), shapes=SHAPES, seconds=4, lane_counts=LANES):
    """Every (lanes, rtt, shape) point; returns the table rows, the in-process rows and the figures by
    (lanes, rtt, shape)."""
    rows, path_table, results = [], [], {}
    with ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="consent-bench-"))
        cluster = stack.enter_context(durable_postgres())
        config = prepare_templates(cluster, sorted({1, *lane_counts}))
        paths = {rtt: write_path(cluster, config, rtt) for rtt in rtts}
        for rtt, path in paths.items():
            path_table.append([f"{rtt:g}", f"{path['rtt_seen_ms']:.2f}", f"{path['decision_ms']:.2f}",
                               f"{path['round_trips']:g}", f"{path['write_ms']:.2f}", f"{path['write_round_trips']:g}",
                               f"{path['hold_ms']:.2f}"])
        for lanes in lane_counts:
            for rtt in rtts:
                for shape in shapes:
                    result = results[lanes, rtt, shape] = measure(cluster, config, rtt, shape, seconds, workdir,
                                                                   lanes)
                    rows.append(_row(lanes, rtt, shape, result, paths[rtt]))
    return rows, path_table, results


def _row(lanes, rtt, shape, result, path):
    full = result["full"]
    writers_allow, locks_allow = model_per_second(path, shape, result["per_transaction"], lanes)
    return [str(lanes), f"{rtt:g}", label(shape), f"{full['ok_per_s']:.0f}",
            f"{ms(full['p50_us'])} / {ms(full['p99_us'])}", f"{result['per_transaction']:.2f}",
            "" if result["round_trips"] is None else f"{result['round_trips']:.1f}",
            f"{1000 / full['ok_per_s']:.2f}", f"{writers_allow:.0f}", f"{locks_allow:.0f}",
            f"{result['acknowledged']} acknowledged, all stored"]


HEADER = ["lanes", "RTT ms", "writers", "decisions/s", "p50 / p99 ms", "decisions per transaction",
          "round trips per decision",
          "ms per decision (1 / throughput)", "model: writers allow /s", "model: lanes' locks allow /s",
          "201s stored, chain verified"]
PATH_HEADER = ["RTT ms", "SELECT 1 ms", "decision ms", "round trips", "write transaction ms",
               "its round trips", "lock held ms (transaction − 2 round trips)"]


def print_tables(rows, path_table, note=""):
    suffix = f" ({note})" if note else ""
    print_table(f"One site, in process, one decision at a time: round trips and lock hold{suffix}", PATH_HEADER,
                path_table)
    print_table(f"One site: decisions/s by lanes, writers and database round trip, gunicorn + wrk, PostgreSQL fsync on"
                f"{suffix}", HEADER, rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt", default="0,1,3", help="added round trips to the database, ms, comma-separated")
    parser.add_argument("--writers", default="1,2,4,8,2x4", help="workers, or workers x threads, comma-separated")
    parser.add_argument("--lanes", default="1,4", help="the site's lane counts, comma-separated")
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    note = machine_note()
    started = time.monotonic()
    rows, path_table, _results = run([float(rtt) for rtt in args.rtt.split(",")], parse_shapes(args.writers),
                                     args.seconds, [int(lanes) for lanes in args.lanes.split(",")])
    print_tables(rows, path_table, f"{note}; took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
