"""Fixed-window rate-limit counters kept in the worker process, for RATELIMIT_STORAGE_URI=memory://.

The `limits` library's MemoryStorage, which Flask-Limiter used for memory://, restarts a timer thread
every 10 ms that walks every key to drop expired ones: that cost each decision about 0.2 ms (issue 18),
and would grow with the number of clients seen. These counters do the same fixed window (it starts at a
key's first hit and lasts the limit's period; refused hits count too) and drop ended windows in one
sweep a minute, on the request that comes due. A shared store (redis://) goes through
`limits` itself (SharedCounters), so that every worker and host counts together.
"""
import logging
import threading
import time

SWEEP_SECONDS = 60
OUTAGE_LOG_SECONDS = 60
outage_log = logging.getLogger("consent.limits")


class LocalCounters:
    """hit / test / window for a `limits` RateLimitItem and the identifiers of its bucket."""

    def __init__(self):
        self._windows = {}  # key: [ends_at, count]
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def hit(self, limit, *identifiers):
        """Count one attempt; whether it is within the limit."""
        now = time.time()
        key = limit.key_for(*identifiers)
        with self._lock:
            if now >= self._next_sweep:
                self._windows = {bucket: window for bucket, window in self._windows.items() if window[0] > now}
                self._next_sweep = now + SWEEP_SECONDS
            window = self._windows.get(key)
            if window is None or window[0] <= now:
                window = self._windows[key] = [now + limit.get_expiry(), 0]
            window[1] += 1
            return window[1] <= limit.amount

    def test(self, limit, *identifiers):
        """Whether one more attempt would be within the limit, counting nothing."""
        return self.window(limit, *identifiers)[1] > 0

    def window(self, limit, *identifiers):
        """(when the window ends, Unix time; how many attempts it has left)."""
        now = time.time()
        with self._lock:
            window = self._windows.get(limit.key_for(*identifiers))
        if window is None or window[0] <= now:
            return now + limit.get_expiry(), limit.amount
        return window[0], max(0, limit.amount - window[1])

    def keys(self):
        """The buckets counted now (what the store holds: tests check no raw address is among them)."""
        with self._lock:
            return list(self._windows)


class SharedCounters:
    """The same three calls on a `limits` strategy over a shared store, which every worker and host counts in.

    When the store cannot be reached the request goes through, unlimited (fail open), and the outage is
    logged once a minute. The limits guard against abuse; the record is the product: refusing every
    visitor's decision while Redis is down would lose the very consent the service exists to record, and
    a flood meanwhile still meets every check a decision passes (origin, schema, policy, idempotency).
    """

    def __init__(self, strategy):
        self._strategy = strategy
        self._errors = strategy.storage.base_exceptions
        self._next_warning = 0.0

    def hit(self, limit, *identifiers):
        return self._guarded(lambda: self._strategy.hit(limit, *identifiers), True)

    def test(self, limit, *identifiers):
        return self._guarded(lambda: self._strategy.test(limit, *identifiers), True)

    def window(self, limit, *identifiers):
        return self._guarded(lambda: tuple(self._strategy.get_window_stats(limit, *identifiers)),
                             (time.time() + limit.get_expiry(), limit.amount))

    def _guarded(self, call, unreachable):
        try:
            return call()
        except self._errors as error:
            now = time.monotonic()
            if now >= self._next_warning:
                self._next_warning = now + OUTAGE_LOG_SECONDS
                outage_log.error("The rate-limit store cannot be reached (%s): requests pass unlimited until it "
                                 "answers again.", type(error).__name__)
            return unreachable
