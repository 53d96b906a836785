"""What the benchmarks share: a database with the demo site, wrk runs, and the table they print."""
import json
import os
import secrets
import shutil
import subprocess
import sys
from contextlib import contextmanager

from consent import PROJECT_ROOT, create_app
from consent.sites import configs
from consent.storage import db
from tests.postgres import TemporaryCluster

BENCH_SITE = PROJECT_ROOT / "examples" / "sites" / "demo.yaml"
BENCH_ORIGIN = "https://bench.example"
# Strong, as production requires (the benchmarks run the app without TESTING); new for every run.
SECRET_KEY = secrets.token_urlsafe(48)
# The benchmarks load the service from one address: the per-client limit would refuse almost all.
ROOMY_LIMITS = {
    "CONSENT_RATELIMIT_CLIENT": "100000000 per minute",
    "CONSENT_RATELIMIT_SITE": "100000000 per minute",
    "CONSENT_RATELIMIT_READS": "100000000 per minute",
}


def bench_app(database_url, **overrides):
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, **ROOMY_LIMITS, **overrides})


def site_config(*extra_origins):
    """The demo site, allowing the benchmark's origins."""
    config = configs.parse_yaml(BENCH_SITE.read_text(encoding="utf-8"))
    config["allowed_origins"] = [BENCH_ORIGIN, *extra_origins]
    return config


def prepare_database(database_url, *extra_origins):
    """Migrate `database_url` and import the demo site into it; returns the site config."""
    app = bench_app(database_url)
    db.upgrade(app)
    config = site_config(*extra_origins)
    with app.app_context(), db.write_transaction() as session:
        configs.import_site(session, config)
    db.dispose(app)
    return config


@contextmanager
def durable_postgres():
    """A throw-away PostgreSQL cluster with fsync on: a commit is on disk, as in production."""
    cluster = TemporaryCluster(durable=True).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def require_command(name, package):
    """Install a Debian package if its command is missing (the bench is allowed to)."""
    if shutil.which(name):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", package], check=True, env=env)


def wrk(url, mode_args, connections, seconds, rate=0, extra=()):
    """One wrk run with bench/load.lua (rate 0: as fast as answered); its figures, plus requests per second."""
    require_command("wrk", "wrk")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(PROJECT_ROOT / "bench" / "load.lua"),
               url, "--", *mode_args, str(rate), *extra]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    figures["ok_per_s"] = figures["ok"] / (figures["duration_us"] / 1e6)
    return figures


def workers_cpu_seconds(master_pid):
    """CPU seconds (user and system) the worker processes of gunicorn's master `master_pid` have used so far."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        except OSError:
            continue  # a process that ended meanwhile
        if int(fields[1]) == master_pid:  # fields: state, ppid, ..., utime (12th), stime (13th)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrk_with_cpu(master_pid, *args, **kwargs):
    """A wrk run (wrk's arguments) that also gives the workers' CPU milliseconds per request: what an answer
    costs the server, apart from the time its workers wait (for the disk, a lock or a core)."""
    before = workers_cpu_seconds(master_pid)
    figures = wrk(*args, **kwargs)
    figures["cpu_ms"] = (workers_cpu_seconds(master_pid) - before) * 1000 / max(1, figures["requests"])
    return figures


def machine_note():
    """How busy the machine was when a benchmark started: the figures depend on it."""
    load1, load5, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load1:.2f} (1 min) {load5:.2f} (5 min) at start"


def print_table(title, header, rows):
    """A Markdown table, as the README shows it."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    print(f"\n### {title}\n")
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    sys.stdout.flush()


def ms(microseconds):
    return f"{microseconds / 1000:.1f}"
