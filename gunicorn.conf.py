"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py app:app` (README, "Scale-out").

Workers are stateless: every one reads the same DATABASE_URL and SECRET_KEY from the environment,
so any number of them, on any number of hosts, can serve behind one load balancer.
"""
import gc
import logging
import os
import threading

bind = os.environ.get("CONSENT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Sync workers by default: on few cores they answer most decisions (README, "Performance"). With
# threads, a worker writes the decisions that arrive together in one transaction (group commit,
# consent/ledger/writer.py): worth it when each commit waits on a database on another host.
threads = int(os.environ.get("CONSENT_THREADS", "1"))
# Each worker builds its own app, engine and connection pool: nothing is shared across a fork.
preload_app = False
# No gunicorn access log: it would write the raw client address. The app logs each request with
# a keyed hash of the address instead (consent/http/request_log.py), to the error log below.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("CONSENT_LOG_LEVEL", "info")
# Small limits on what a request may send before the app sees it.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
timeout = 30
graceful_timeout = 10


def post_worker_init(worker):
    """The app's log ("consent": the request lines of consent/http/request_log.py, errors) goes where gunicorn's
    own lines go, its error log. Nothing else gives it a handler here: Flask adds its default one when something
    first asks for the app's logger, which under gunicorn nothing did until the first error, and every request
    line before it was lost. (The development server and the benchmarks' own apps keep Flask's way.)"""
    app_log = logging.getLogger("consent")
    for handler in worker.log.error_log.handlers:
        app_log.addHandler(handler)


# A worker's heap, once its first requests have built what the app builds lazily (caches, compiled statements,
# the rest of its modules): about 146,000 objects that live as long as the worker. Python's full collection
# walks all of them, 40 ms on the benchmark machine, every few thousand requests, and the workers of one
# server reach it at about the same time since they serve alike: that was the p99 of decisions at half load
# (issue 18, docs/performance.md). Frozen objects are left out of every collection, so each worker collects
# once and freezes what survived, after its first requests and again after more, to take in what only rarer
# requests build; whatever comes later is collected as usual. Each worker has its own copy of these: they
# are set in the master, which serves nothing, and copied by the fork.
_FREEZE_AFTER_REQUESTS = (100, 1000)
_freezes_due = list(_FREEZE_AFTER_REQUESTS)
_freeze_lock = threading.Lock()  # a gthread worker's threads finish requests at the same time


def post_request(worker, _req, _environ, _resp):
    if not _freezes_due or worker.nr < _freezes_due[0]:
        return
    with _freeze_lock:
        if _freezes_due and worker.nr >= _freezes_due[0]:
            _freezes_due.pop(0)
            gc.collect()
            gc.freeze()
