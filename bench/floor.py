"""The floor under the server figures: what Flask alone answers under the same gunicorn and wrk.

Two views with no consent logic at all: one answers a POST without reading it, one parses its JSON
body and answers with JSON. Same machine, same gunicorn (sync workers), same wrk (16 connections,
5 s, the body the server benchmark posts). Whatever a decision costs beyond these is our own work.

    .venv/bin/python -m bench.floor [--workers 1,2,4] [--seconds 5]
"""
import argparse
import subprocess
import sys
import time
import urllib.error
import urllib.request

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/empty")
def empty():
    return jsonify(ok=True), 201


@app.post("/json")
def parse_json():
    return jsonify(ok=True, fields=len(request.get_json())), 201


def serve(workers, target="bench.floor:app", env=None):
    """gunicorn with `workers` sync workers serving `target`; (process, url) once it answers."""
    from bench.common import PROJECT_ROOT
    from tests.postgres import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", target], cwd=PROJECT_ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/", timeout=1)
            return process, url
        except urllib.error.HTTPError:  # an answer, if only a 404: it is up
            return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("gunicorn did not answer")


def main(worker_counts=(1, 2, 4), seconds=5):
    from bench.common import BENCH_ORIGIN, machine_note, ms, print_table, wrk_with_cpu

    note = machine_note()
    rows, answers, cpu_ms = [], {}, {}
    for workers in worker_counts:
        process, url = serve(workers)
        try:
            for path in ("empty", "json"):
                figures = wrk_with_cpu(process.pid, f"{url}/{path}", ["post", BENCH_ORIGIN, "demo", "v1"], 16, seconds)
                answers[workers, path], cpu_ms[workers, path] = figures["ok_per_s"], figures["cpu_ms"]
                rows.append([f"POST /{path}", workers, f"{figures['ok_per_s']:.0f}",
                             f"{ms(figures['p50_us'])} / {ms(figures['p99_us'])}", f"{figures['cpu_ms']:.2f}"])
        finally:
            process.terminate()
            process.wait()
    print_table(f"Floor: Flask alone under gunicorn + wrk ({note})",
                ["view", "workers", "answers/s", "p50 / p99 ms", "worker CPU ms an answer"], rows)
    return answers, cpu_ms  # each {(workers, "empty" | "json"): answers a second, or workers' CPU ms an answer}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--seconds", type=int, default=5)
    arguments = parser.parse_args()
    main([int(n) for n in arguments.workers.split(",")], arguments.seconds)
