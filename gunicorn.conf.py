"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py app:app` (README, "Scale-out").

Workers are stateless: every one reads the same DATABASE_URL and SECRET_KEY from the environment,
so any number of them, on any number of hosts, can serve behind one load balancer.
"""
import os

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
