"""The service as it runs in production: gunicorn in its own process group on a free loopback port."""
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.postgres import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# gunicorn runs the app as in production (no TESTING), where a weak SECRET_KEY is refused: a strong one,
# the same for every server of this test run, so a restarted server verifies what the first one signed.
SECRET_KEY = secrets.token_urlsafe(48)


class GunicornServer:
    """Start with `start()`; `kill()` is a crash (SIGKILL to every process), `stop()` a clean shutdown."""

    def __init__(self, database_url, workers=1, threads=None, log_path=os.devnull, **settings):
        """`threads` None: as many as gunicorn.conf.py gives a worker in production."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": settings.pop("SECRET_KEY", SECRET_KEY),
            "CONSENT_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            **({"CONSENT_THREADS": str(threads)} if threads else {}),
            **{name: str(value) for name, value in settings.items()},
        }
        self.log_path = log_path
        self.process = None

    def start(self, timeout=30):
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"]
        with open(self.log_path, "ab") as log:
            # A session of its own: kill() reaches the master and every worker at once.
            self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                urllib.request.urlopen(self.url + "/static/consent.js", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"gunicorn did not answer within {timeout} s")

    def kill(self):
        """SIGKILL the master and all workers: nothing gets to finish or clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc):
        self.stop()
