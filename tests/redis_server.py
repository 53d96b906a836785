"""A throw-away Redis from Debian's redis-server: a temp dir, loopback only, nothing saved to disk."""
import shutil
import socket
import subprocess
import tempfile
import time

from tests.postgres import free_port


class TemporaryRedis:
    """Start with `start()`, stop and delete with `stop()`; `stop()` then `start()` again is an outage and a return."""

    def __init__(self):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("Redis is not installed: run `make test`, which installs Debian's redis-server.")
        self.binary, self.port = binary, free_port()
        self.directory = tempfile.mkdtemp(prefix="consent-redis-")
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout=10):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.directory,
             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer")

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def remove(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
