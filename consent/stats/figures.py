"""The figures the console shows for a site and a period of its days, beside the period before, read from the
roll-up's counters only (never from the log), so the page costs the same at a thousand events or a million.

Shares are of decisions: a visitor who decides twice counts twice. Small numbers are suppressed: in the tables
by language and by policy version, and in the under-age counts, a count from 1 to `threshold` - 1 is shown as
"< threshold" and the share made from it is not shown, so a cell never singles out a handful of visitors.
"""
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from consent.stats.rollup import COUNTERS, OUTCOMES, SECONDS_BUCKETS, lanes_to_count
from consent.storage.models import ConsentEvent
from consent.storage.operations import DecisionStats, FunnelStats, StatsProgress

DEFAULT_THRESHOLD = 10


@dataclass
class Totals:
    """Counters summed over some rows: the period, one language, one version."""

    counts: Counter = field(default_factory=Counter)
    granted: Counter = field(default_factory=Counter)

    def add(self, row):
        self.counts.update({name: getattr(row, name) for name in COUNTERS})
        self.granted.update(row.granted)

    def share(self, name):
        """`name`'s share of decisions (a counter, or a purpose id), or None with no decision."""
        decisions = self.counts["decisions"]
        part = self.granted[name] if name not in COUNTERS else self.counts[name]
        return part / decisions if decisions else None


@dataclass
class Funnel:
    shown: int = 0
    decided: Counter = field(default_factory=Counter)  # by outcome
    seconds: Counter = field(default_factory=Counter)  # by bucket's upper bound

    @property
    def decisions(self):
        return sum(self.decided.values())

    @property
    def left_without_deciding(self):
        """Banner showings no decision from that banner followed (never below 0: marks can be lost in transit)."""
        return max(self.shown - self.decisions, 0)

    def median_seconds(self):
        """The bucket (upper bound, seconds) the median decision's time to decide falls in; None without any."""
        total, passed = sum(self.seconds.values()), 0
        for bound in SECONDS_BUCKETS:
            passed += self.seconds[bound]
            if total and passed * 2 >= total:
                return bound
        return None


@dataclass
class Period:
    first: object  # date
    last: object
    totals: Totals
    days: dict  # {date: decisions}, every day of the period
    by_language: dict  # {language: Totals}
    by_version: dict  # {version: Totals}
    funnel: Funnel
    funnel_by_language: dict  # {language: Funnel}


def period(session, site_id, first, last):
    """The figures of `site_id` from day `first` to day `last`, both included."""
    totals, by_language, by_version = Totals(), {}, {}
    days = {first + timedelta(days=n): 0 for n in range((last - first).days + 1)}
    rows = session.scalars(select(DecisionStats).where(
        DecisionStats.site_id == site_id, DecisionStats.day >= first, DecisionStats.day <= last)).all()
    for row in rows:
        totals.add(row)
        by_language.setdefault(row.language, Totals()).add(row)
        by_version.setdefault(row.policy_version, Totals()).add(row)
        days[row.day] += row.decisions
    funnel, funnel_by_language = Funnel(), {}
    for row in session.scalars(select(FunnelStats).where(
            FunnelStats.site_id == site_id, FunnelStats.day >= first, FunnelStats.day <= last)).all():
        for target in (funnel, funnel_by_language.setdefault(row.language, Funnel())):
            if row.outcome == "shown":
                target.shown += row.count
            elif row.outcome in OUTCOMES:
                target.decided[row.outcome] += row.count
                target.seconds.update({int(bound): count for bound, count in row.seconds.items()})
    return Period(first, last, totals, days, dict(sorted(by_language.items())), dict(sorted(by_version.items())),
                  funnel, dict(sorted(funnel_by_language.items())))


def compared(session, site_id, first, last):
    """(this period, the period of the same length just before it)."""
    length = last - first + timedelta(days=1)
    return period(session, site_id, first, last), period(session, site_id, first - length, first - timedelta(days=1))


def behind(session, site_id):
    """How many of the site's decisions the roll-up has not counted yet: in each lane of its log, those after the
    lane's position (a lane's seqs run from 1 without a gap)."""
    counted = dict(session.execute(select(StatsProgress.lane, StatsProgress.last_seq)
                                   .where(StatsProgress.site_id == site_id)).all())
    return sum(max(_newest_seq(session, site_id, lane) - counted.get(lane, 0), 0)
               for lane in lanes_to_count(session, site_id))


def _newest_seq(session, site_id, lane):
    """The seq of the lane's newest event (0 for none): one lookup in the unique (site_id, lane, seq) index."""
    return session.scalar(select(func.max(ConsentEvent.seq)).where(
        ConsentEvent.site_id == site_id, ConsentEvent.lane == lane)) or 0


def suppressed(count, threshold):
    """Whether a count is small enough to single out visitors: 1 to threshold - 1 (0 says nobody, and is shown)."""
    return 0 < count < threshold
