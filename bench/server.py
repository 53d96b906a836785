"""Server benchmark: the production gunicorn on loopback, loaded with wrk, on SQLite and on PostgreSQL
(fsync on), with 1, 2 and 4 sync workers and 2 workers of 4 threads (gthread: group commit). Decisions
per second at full load, latency at full and half load, and the read endpoints (receipt lookup, widget
config, backend check). Every acknowledged (201) decision is checked to be stored, and the chain to verify.

    .venv/bin/python -m bench.server [--backends sqlite,postgresql] [--workers 1,2,4,2x4] [--seconds 5]
"""
import argparse
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import func, select

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
    wrk_with_cpu,
)
from consent.accounts import api_keys
from consent.ledger import receipts
from consent.ledger.chain import verify_chain
from consent.storage import db
from consent.storage.models import ConsentEvent, Receipt
from consent.subjects import identity, tokens
from tests.server import GunicornServer

CONNECTIONS = 16
READ_CONNECTIONS = 8
LOOKUP_SAMPLE = 1000
SUBJECTS = 500  # users with decisions, for the backend check; the other decisions are anonymous visitors


def subjects_file(app, site_id, workdir):
    """The benchmark's users with the subject tokens their site's backend would give their pages."""
    with app.app_context():
        secret = identity.current_secret(db.get_session(), site_id)
    expires = int(time.time()) + 24 * 3600
    lines = [f"user-{n}\t{tokens.make_token(secret.secret, secret.kid, site_id, f'user-{n}', expires)}\n"
             for n in range(SUBJECTS)]
    path = Path(workdir) / "subjects.tsv"
    path.write_text("".join(lines))
    return path


def receipt_lookup(app, site_id):
    """Receipt URLs with their access tokens, for stored receipts spread over the whole table."""
    with app.app_context():
        ids = db.get_session().scalars(
            select(Receipt.receipt_id).where(Receipt.site_id == site_id).order_by(func.random()).limit(LOOKUP_SAMPLE)
        ).all()
        return [f"/api/v1/receipts/{rid}?token={receipts.access_token(rid)}" for rid in ids], ()


def widget_config(_app, site_id):
    return [f"/api/v1/sites/{site_id}/config?lang={lang}" for lang in ("en", "zh-CN")], ()


def backend_check(app, site_id):
    """A site backend asking for one of its users' current decisions, with its API key."""
    with app.app_context(), db.write_transaction() as session:
        token = api_keys.create_key(session, site_id, "bench")[1]
    return ([f"/api/v1/sites/{site_id}/subjects/user-{n}/consents" for n in range(SUBJECTS)],
            ("Authorization", f"Bearer {token}"))


# The read endpoints measured: a name, and a function giving the paths to GET and a header to send.
READS = [("receipt lookup", receipt_lookup), ("widget config", widget_config), ("backend check", backend_check)]


def measure_reads(server, app, site_id, seconds, workdir):
    figures = {}
    for name, paths_for in READS:
        paths, header = paths_for(app, site_id)
        paths_file = Path(workdir) / f"{name.replace(' ', '-')}.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        figures[name] = wrk(server.url + "/", ["get", str(paths_file)], READ_CONNECTIONS, seconds, extra=header)
    return figures


def stored_and_intact(app, site_id):
    with app.app_context():
        session = db.get_session()
        stored = session.scalar(select(func.count()).select_from(ConsentEvent))
        return stored, verify_chain(session, site_id).intact


def first_errors(log, lines=60):
    """The server log from its first error on (the log dies with the benchmark's temporary directory)."""
    text = log.read_text(errors="replace").splitlines()
    start = next((n for n, line in enumerate(text) if "ERROR" in line or "Traceback" in line), len(text) - lines)
    return "\n".join(text[start:start + lines])


def measure(database_url, shape, seconds, workdir):
    """One backend and server shape (workers, threads): full load, half load, reads, then the durability check."""
    workers, threads = shape
    config = prepare_database(database_url)
    post = ["post", BENCH_ORIGIN, config["id"], config["policy"]["version"]]
    app = bench_app(database_url)
    log = Path(workdir) / f"gunicorn-{workers}x{threads}.log"
    with GunicornServer(database_url, workers=workers, threads=threads, log_path=log, SECRET_KEY=SECRET_KEY,
                        **ROOMY_LIMITS) as server:
        url = server.url + "/api/v1/consents"
        # The warm-up also gives the backend check its users, each decision proven by a subject token.
        warm = wrk(url, post, CONNECTIONS, 2, extra=[str(subjects_file(app, config["id"], workdir))])
        full = wrk_with_cpu(server.process.pid, url, post, CONNECTIONS, seconds)
        half = wrk(url, post, CONNECTIONS, seconds, rate=max(1, int(full["ok_per_s"] / 2)))
        reads = measure_reads(server, app, config["id"], max(2, seconds // 2), workdir)
    acknowledged, stored = check_durability(app, config["id"], warm, [full, half], log)
    db.dispose(app)
    return {"full": full, "half": half, "reads": reads, "stored": stored, "acknowledged": acknowledged}


def check_durability(app, site_id, warm, measured, log):
    """Every decision the wrk runs (`warm`, then the `measured` ones, which must have had no refusal)
    acknowledged is stored and the site's chain verifies; else stop with the server's first errors from `log`.
    Returns (acknowledged, stored)."""
    runs = [warm, *measured]
    acknowledged = sum(run["ok"] for run in runs)
    # wrk stops at its deadline without reading the answers still on the wire: each run may have
    # stored up to one decision per connection more than it counted, never fewer.
    in_flight = len(runs) * CONNECTIONS
    stored, intact = stored_and_intact(app, site_id)
    if not acknowledged <= stored <= acknowledged + in_flight or not intact or any(run["not_ok"] for run in measured):
        refused = sorted(set("".join(run["refusals"] for run in measured).split()))  # the log dies with workdir
        raise SystemExit(f"durability check failed: {acknowledged} acknowledged, {stored} stored, chain "
                         f"{'intact' if intact else 'BROKEN'}, refused with {refused}; the server's first errors:\n"
                         + first_errors(log))
    return acknowledged, stored


def parse_shapes(text):
    """"1,2,4,2x4": workers, or workers x threads per worker."""
    return [tuple(int(n) for n in (item.split("x") + ["1"])[:2]) for item in text.split(",")]


def label(shape):
    workers, threads = shape
    return str(workers) if threads == 1 else f"{workers} × {threads} threads"


def run(backends=("sqlite", "postgresql"), shapes=((1, 1), (2, 1), (4, 1), (2, 4)), seconds=5):
    """Measure every combination; returns the table rows and the figures by (backend, shape)."""
    rows, results = [], {}
    with ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="consent-bench-"))
        cluster = stack.enter_context(durable_postgres()) if "postgresql" in backends else None
        for backend in backends:
            for shape in shapes:
                name = f"bench_{shape[0]}x{shape[1]}"
                if backend == "sqlite":
                    database_url = f"sqlite:///{workdir}/{name}.sqlite3"
                else:
                    cluster.execute(f"CREATE DATABASE {name}")
                    database_url = cluster.url(name)
                result = results[backend, shape] = measure(database_url, shape, seconds, workdir)
                full, half, reads = result["full"], result["half"], result["reads"]
                rows.append([
                    backend, label(shape), f"{full['ok_per_s']:.0f}", f"{ms(full['p50_us'])} / {ms(full['p99_us'])}",
                    f"{full['cpu_ms']:.2f}",
                    f"{half['ok_per_s']:.0f}", f"{ms(half['p50_us'])} / {ms(half['p99_us'])}",
                    *[f"{reads[name]['ok_per_s']:.0f} · {ms(reads[name]['p50_us'])} / {ms(reads[name]['p99_us'])}"
                      for name, _paths in READS],
                    f"{result['acknowledged']} acknowledged, all stored",
                ])
    return rows, results


HEADER = ["backend", "workers", "consents/s (full load)", "p50 / p99 ms", "worker CPU ms a consent", "half load /s",
          "p50 / p99 ms",
          *[f"{name} GET/s · p50 / p99 ms" for name, _paths in READS], "201s stored, chain verified"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2,4,2x4", help="workers, or workers x threads, comma-separated")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    note = machine_note()
    rows, _results = run(args.backends.split(","), parse_shapes(args.workers), args.seconds)
    print_table(f"Server: POST /api/v1/consents and reads, gunicorn + wrk on loopback ({note})", HEADER, rows)


if __name__ == "__main__":
    main()
