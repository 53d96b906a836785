"""The roll-up: aggregate counters from a site's consent log and from the widget's banner marks, counted by a job
outside the decision path (`flask consent stats rollup`, once or as a worker).

Decisions are read lane by lane (consent/ledger/lanes.py), each lane by its sequence, which the chain writer
commits in order, from where the last roll-up stopped in that lane (stats_progress.last_seq, one per lane):
nothing is counted twice or skipped, and a decision pays nothing for being counted, no hot row per site and day on
its path, and nothing enters the tamper-evident log. Counting happens in memory, then one short write transaction
adds the counts and moves the lane's mark, if no other roll-up moved it first.

Banner marks are counted and deleted in one statement (DELETE ... RETURNING), so each is counted exactly once
whatever runs beside, and the table holds only marks not yet counted.

Days are the site's (consent/stats/days.py). When the site's zone changes, its decision counters are counted
again from the start of its log in the new zone; banner counters already counted stay on the days they were
counted in (their marks are gone).
"""
import json
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import delete, select, update

from consent.ledger.chain import lanes_in_log
from consent.ledger.choices import MINOR_STATEMENTS
from consent.sites import purposes
from consent.stats.days import day_of, zone_name
from consent.storage.db import get_session, write_transaction
from consent.storage.models import ConsentEvent, PolicyVersion, Site, in_utc
from consent.storage.operations import DecisionStats, FunnelMark, FunnelStats, StatsProgress

BATCH = 5000
OUTCOMES = ("accept_all", "reject_all", "custom")
MARKS = ("shown", *OUTCOMES)
# Time to decide, counted in buckets named by their upper bound in seconds (the widget caps it at 3600).
SECONDS_BUCKETS = (1, 2, 5, 10, 30, 60, 300, 3600)
COUNTERS = ("decisions", "accept_all", "reject_all", "custom", "withdrawals", "under_age", "dnt", "gpc")


def roll_up_all():
    """Roll up every site; returns {site id: (decisions counted, marks counted)} for the sites with any."""
    site_ids = get_session().scalars(select(Site.id).order_by(Site.id)).all()
    get_session().rollback()
    done = {site_id: roll_up(site_id) for site_id in site_ids}
    return {site_id: counted for site_id, counted in done.items() if any(counted)}


def roll_up(site_id):
    """Count what is new for `site_id`, until nothing is: (decisions counted, banner marks counted)."""
    zone = zone_name(get_session().get(Site, site_id))
    lanes = lanes_to_count(get_session(), site_id)
    get_session().rollback()
    _track_lanes(site_id, zone, lanes)
    decisions = marks = 0
    for lane in lanes:
        while True:
            counted = _decision_batch(site_id, lane, zone)
            decisions += counted
            if counted < BATCH:
                break
    while True:
        counted = _mark_batch(site_id, zone)
        marks += counted
        if counted < BATCH:
            return decisions, marks


def _counters(writer, model, key, empty):
    """The row of counters for `key` (its primary key, by column), added with the `empty` counts when new."""
    row = writer.get(model, key)
    if row is None:
        row = model(**key, **empty)
        writer.add(row)
    return row


def lanes_to_count(session, site_id):
    """The lanes of a site's log, and any an event names beyond them all the same, so that no event goes uncounted."""
    configured, stray = lanes_in_log(session, site_id)
    return sorted({*configured, *stray})


def _track_lanes(site_id, zone, lanes):
    """Give every lane of `lanes` a position to count from, in `zone`.

    A site never rolled up, or whose zone changed, starts again from the start of every lane. A lane the site gained
    since starts from its beginning, beside the others' positions: none of its events was counted yet."""
    session = get_session()
    zones = dict(session.execute(select(StatsProgress.lane, StatsProgress.time_zone)
                                 .where(StatsProgress.site_id == site_id)).all())
    session.rollback()
    if not zones or set(zones.values()) != {zone}:
        _start_over(site_id, zone, lanes)
    elif any(lane not in zones for lane in lanes):
        with write_transaction() as writer:
            for lane in lanes:
                # Read again in the writing transaction: a position another roll-up has moved meanwhile is kept.
                if writer.get(StatsProgress, (site_id, lane)) is None:
                    writer.add(StatsProgress(site_id=site_id, lane=lane, last_seq=0, time_zone=zone))


def _decision_batch(site_id, lane, zone):
    session = get_session()
    progress = session.get(StatsProgress, (site_id, lane))
    if progress is None or progress.time_zone != zone:
        session.rollback()
        return 0  # another roll-up started over meanwhile, in another zone: the next one counts it all again
    start = progress.last_seq
    events = session.execute(
        select(ConsentEvent.seq, ConsentEvent.visitor_id, ConsentEvent.subject_ref, ConsentEvent.document)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.lane == lane, ConsentEvent.seq > start)
        .order_by(ConsentEvent.seq).limit(BATCH)
    ).all()
    if not events:
        session.rollback()
        return 0
    counts = _count(session, site_id, lane, zone, events)
    session.rollback()  # no read transaction stays open into the write
    with write_transaction() as writer:
        moved = writer.execute(update(StatsProgress).where(
            StatsProgress.site_id == site_id, StatsProgress.lane == lane, StatsProgress.last_seq == start,
            StatsProgress.time_zone == zone,
        ).values(last_seq=events[-1].seq)).rowcount
        if moved != 1:
            return 0  # another roll-up counted these first
        for (day, language, version), counted in counts.items():
            row = _counters(writer, DecisionStats, {"site_id": site_id, "day": day, "language": language,
                                                    "policy_version": version},
                            {"granted": {}, **dict.fromkeys(COUNTERS, 0)})
            for name in COUNTERS:
                setattr(row, name, getattr(row, name) + counted[name])
            row.granted = dict(Counter(row.granted) + counted["granted"])  # a new dict: JSON columns track assignment
    return len(events)


def _start_over(site_id, zone, lanes):
    """A site never rolled up, or whose zone changed: its decision counters start again from each lane's first
    event."""
    with write_transaction() as writer:
        writer.execute(delete(DecisionStats).where(DecisionStats.site_id == site_id))
        writer.execute(delete(StatsProgress).where(StatsProgress.site_id == site_id))
        writer.add_all(StatsProgress(site_id=site_id, lane=lane, last_seq=0, time_zone=zone) for lane in lanes)
    get_session().rollback()  # the caller's read transaction began before this write


def _count(session, site_id, lane, zone, events):
    """{(day, language, policy version): {counter: n, "granted": Counter}} of `events`, of one lane."""
    counts = defaultdict(lambda: {**dict.fromkeys(COUNTERS, 0), "granted": Counter()})
    consent_purposes = _ConsentPurposes(session, site_id)
    previous = _latest_before(session, site_id, lane, events)  # held in memory for the batch only
    for event in events:
        document = json.loads(event.document)
        day = day_of(datetime.fromisoformat(document["recorded_at"]), zone)
        counted = counts[day, document["language"], document["policy_version"]]
        offered = consent_purposes(document["policy_version"])
        choices = document["choices"]
        counted["decisions"] += 1
        if document["action"] in OUTCOMES:
            counted[document["action"]] += 1
        counted["under_age"] += document.get("age_statement") in MINOR_STATEMENTS
        signals = document.get("signals") or {}
        counted["dnt"] += bool(signals.get("dnt"))
        counted["gpc"] += bool(signals.get("gpc"))
        counted["granted"].update(purpose for purpose in offered if choices.get(purpose) is True)
        before = previous.get(_who(event), {})
        counted["withdrawals"] += any(before.get(purpose) is True and choices.get(purpose) is False
                                      for purpose in offered)
        previous[_who(event)] = choices
    return counts


def _who(event):
    """Whose decision an event is: a proven user's (their pseudonym) or a visitor's (their credential's hash)."""
    return ("subject", event.subject_ref) if event.subject_ref else ("visitor", event.visitor_id)


def _latest_before(session, site_id, lane, events, chunk=500):
    """{whose: the choices of their latest decision before the batch, in its lane} for everyone deciding in the
    batch, read through the subject and visitor indexes, a chunk of people per query.

    Only the batch's lane is looked at: a person's decisions are in one lane, in the order they were made
    (consent/ledger/lanes.py), and a lane's earlier events are counted before its later ones whatever the other
    lanes hold, so each decision is compared with the same one whichever roll-up counts it. A visitor whom a
    raised lane count moved starts afresh in their new lane."""
    latest = {}
    for kind, column in (("subject", ConsentEvent.subject_ref), ("visitor", ConsentEvent.visitor_id)):
        people = sorted({who[1] for who in map(_who, events) if who[0] == kind})
        for start in range(0, len(people), chunk):
            # No condition on lane or seq here: with one, SQLite walks the lane's index instead, every earlier event.
            rows = session.execute(select(column, ConsentEvent.lane, ConsentEvent.seq, ConsentEvent.document).where(
                ConsentEvent.site_id == site_id, column.in_(people[start:start + chunk]))).all()
            earlier = sorted((person, seq, document) for person, in_lane, seq, document in rows
                             if in_lane == lane and seq < events[0].seq)
            for person, _seq, document in earlier:
                latest[kind, person] = json.loads(document)["choices"]
    return latest


class _ConsentPurposes:
    """The ids of a policy version's consent purposes (those the visitor decides), each version read once."""

    def __init__(self, session, site_id):
        self.session, self.site_id, self.known = session, site_id, {}

    def __call__(self, version):
        if version not in self.known:
            policy = self.session.get(PolicyVersion, (self.site_id, version))
            self.known[version] = [purpose["id"] for purpose in (policy.purposes if policy else [])
                                   if purposes.is_consent(purpose)]
        return self.known[version]


def _mark_batch(site_id, zone):
    session = get_session()
    waiting = session.scalar(select(FunnelMark.id).where(FunnelMark.site_id == site_id).limit(1))
    session.rollback()
    if waiting is None:
        return 0  # no write lock taken for nothing: decisions wait for it
    with write_transaction() as writer:
        oldest = select(FunnelMark.id).where(FunnelMark.site_id == site_id).order_by(FunnelMark.id).limit(BATCH)
        counted = writer.execute(delete(FunnelMark).where(FunnelMark.id.in_(oldest)).returning(
            FunnelMark.at, FunnelMark.language, FunnelMark.outcome, FunnelMark.seconds)).all()
        counts = defaultdict(lambda: [0, Counter()])
        for at, language, outcome, seconds in counted:
            entry = counts[day_of(in_utc(at), zone), language, outcome]
            entry[0] += 1
            if seconds is not None:
                entry[1][str(bucket(seconds))] += 1
        for (day, language, outcome), (count, buckets) in counts.items():
            row = _counters(writer, FunnelStats, {"site_id": site_id, "day": day, "language": language,
                                                  "outcome": outcome}, {"count": 0, "seconds": {}})
            row.count += count
            row.seconds = dict(Counter(row.seconds) + buckets)
    return len(counted)


def bucket(seconds):
    """The upper bound of the time-to-decide bucket `seconds` falls in."""
    return next((bound for bound in SECONDS_BUCKETS if seconds <= bound), SECONDS_BUCKETS[-1])
