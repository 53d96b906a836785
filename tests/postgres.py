"""A throw-away PostgreSQL cluster from Debian's binaries: initdb + pg_ctl in a temp dir, loopback only."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import psycopg


def find_bindir():
    """The newest installed PostgreSQL's bin directory (Debian puts it outside PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return os.path.dirname(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    raise RuntimeError("PostgreSQL is not installed: run `make test`, which installs Debian's postgresql package.")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TemporaryCluster:
    """Start with `start()`, stop and delete with `stop()`. Runs as `postgres` when we are root."""

    def __init__(self, durable=False):
        self.bindir = find_bindir()
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="consent-pg-")
        self.datadir = os.path.join(self.directory, "data")
        # initdb refuses to run as root; Debian's package creates the `postgres` user for this.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.run_as:
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        # Tests want speed, crash tests and benchmarks want real fsyncs.
        self.settings = (
            [] if durable else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        )

    def _run(self, *command):
        subprocess.run([*self.run_as, *command], check=True, capture_output=True, cwd=self.directory)

    def start(self):
        self._run(
            f"{self.bindir}/initdb", "-D", self.datadir, "-U", "consent", "--auth=trust", "-E", "UTF8", "--no-locale"
        )
        options = " ".join(
            ["-h", "127.0.0.1", "-p", str(self.port), "-k", self.directory, "-c", "max_connections=200", *self.settings]
        )
        self._run(
            f"{self.bindir}/pg_ctl", "-D", self.datadir, "-l", os.path.join(self.directory, "log"),
            "-o", options, "-w", "start",
        )
        return self

    def stop(self):
        try:
            self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop")
        finally:
            # A test run leaves a thousand databases of a few hundred files each: deleting them takes
            # twenty seconds nobody needs to wait for, so a process of its own does it.
            subprocess.Popen(["rm", "-rf", "--", self.directory], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def url(self, database="postgres"):
        return f"postgresql+psycopg://consent@127.0.0.1:{self.port}/{database}"

    def execute(self, statement):
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=consent dbname=postgres", autocommit=True) as conn:
            conn.execute(statement)
