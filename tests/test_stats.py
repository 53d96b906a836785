"""Statistics (issue 17): known decisions and banner marks give exact figures, through the roll-up.

The shop's jurisdiction is CN, so its days are Asia/Shanghai's (UTC+8): 15:59 UTC is 23:59 that day, 16:01 UTC
already the next day.
"""
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from consent.stats import figures, rollup
from consent.storage.db import get_session, write_transaction
from consent.storage.models import ConsentEvent, Site
from consent.storage.operations import DecisionStats, FunnelMark, StatsProgress
from tests.conftest import credentials_in_lane, import_site, load_site_config, set_site_lanes, visitor_credential

NOV_20, NOV_21 = date(2026, 11, 20), date(2026, 11, 21)
OPTIONAL = ("analytics", "advertising", "marketing_sms", "personalized_recommendation")


def choices(*granted):
    return {"necessary": True, "cross_border_transfer": False, **{purpose: purpose in granted for purpose in OPTIONAL}}


def decide(consent, clock, at, granted=(), **changes):
    clock.set(at)
    answer = consent.post(choices=choices(*granted), **changes)
    assert answer.status_code == 201, answer.get_json()


def utc(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def figures_of(app, first, last):
    with app.app_context():
        rollup.roll_up_all()
        return figures.period(get_session(), "shop", first, last)


def test_known_decisions_give_exact_figures_on_the_sites_days(app, consent, clock):
    decide(consent, clock, utc(20, 2), OPTIONAL, **consent.user("u1"), signals={"dnt": True, "gpc": False})
    decide(consent, clock, utc(20, 3), language="en", signals={"dnt": False, "gpc": True})
    decide(consent, clock, utc(20, 15, 59), ("analytics",))  # 23:59 in Shanghai: still the 20th
    decide(consent, clock, utc(20, 16, 1), (), **consent.user("u1"))  # 00:01 on the 21st; u1 takes it all back
    first = figures_of(app, NOV_20, NOV_20)
    assert first.days == {NOV_20: 3}
    assert dict(first.totals.counts) == {"decisions": 3, "accept_all": 1, "reject_all": 1, "custom": 1,
                                         "withdrawals": 0, "under_age": 0, "dnt": 1, "gpc": 1}
    assert dict(first.totals.granted) == {"analytics": 2, "advertising": 1, "marketing_sms": 1,
                                          "personalized_recommendation": 1}  # never a purpose on another basis
    assert first.totals.share("analytics") == pytest.approx(2 / 3)
    assert {language: dict(totals.counts)["decisions"] for language, totals in first.by_language.items()} == {
        "en": 1, "zh-CN": 2}
    both = figures_of(app, NOV_20, NOV_21)
    assert both.days == {NOV_20: 3, NOV_21: 1}
    assert both.totals.counts["withdrawals"] == 1 and both.totals.counts["reject_all"] == 2


def test_an_empty_period_has_zeros_and_no_shares(app, consent, clock):
    decide(consent, clock, utc(20, 2), OPTIONAL)
    empty = figures_of(app, date(2026, 10, 1), date(2026, 10, 3))
    assert empty.days == {date(2026, 10, 1): 0, date(2026, 10, 2): 0, date(2026, 10, 3): 0}
    assert empty.totals.counts["decisions"] == 0 and empty.totals.share("accept_all") is None
    assert empty.by_language == {} and empty.funnel.shown == 0 and empty.funnel.median_seconds() is None


def test_a_period_spanning_a_policy_version_change_splits_by_version(app, consent, clock):
    decide(consent, clock, utc(20, 2), OPTIONAL)
    decide(consent, clock, utc(20, 3), ())
    config = load_site_config()
    config["policy"]["version"] = "v2"
    import_site(app, config)
    decide(consent, clock, utc(21, 2), ("analytics",), policy_version="v2")
    both = figures_of(app, NOV_20, NOV_21)
    assert {version: (totals.counts["decisions"], totals.counts["accept_all"], totals.counts["custom"])
            for version, totals in both.by_version.items()} == {"v1": (2, 1, 0), "v2": (1, 0, 1)}


def test_small_cells_are_suppressed_and_zero_is_not():
    assert [figures.suppressed(count, 10) for count in (0, 1, 9, 10, 11)] == [False, True, True, False, False]


def test_the_rollup_counts_each_decision_once_and_picks_up_where_it_stopped(app, consent, clock):
    decide(consent, clock, utc(20, 2), OPTIONAL, **consent.user("u2"))
    assert figures_of(app, NOV_20, NOV_20).totals.counts["decisions"] == 1
    decide(consent, clock, utc(20, 3), ("analytics",), **consent.user("u2"))  # a withdrawal across two roll-ups
    counts = figures_of(app, NOV_20, NOV_20).totals.counts
    assert (counts["decisions"], counts["withdrawals"]) == (2, 1)
    with app.app_context():
        assert rollup.roll_up("shop") == (0, 0)  # nothing new
        assert figures.behind(get_session(), "shop") == 0


def test_the_rollup_counts_each_lane_of_a_log_once_from_where_it_stopped_in_it(app, consent, clock):
    set_site_lanes(app, 4)
    visitors = [visitor_credential(number) for number in range(8)]
    for minute, visitor in enumerate(visitors):
        decide(consent, clock, utc(20, 2, minute), OPTIONAL, visitor_secret=visitor)
    assert len({event.lane for event in consent.stored_events()}) > 1
    with app.app_context():
        assert figures.behind(get_session(), "shop") == 8
    counts = figures_of(app, NOV_20, NOV_20).totals.counts
    assert (counts["decisions"], counts["accept_all"]) == (8, 8)
    # Everyone takes it all back: in each lane after its counted events, whose seqs are below other lanes' last ones.
    for minute, visitor in enumerate(reversed(visitors)):
        decide(consent, clock, utc(20, 2, 30 + minute), (), visitor_secret=visitor)
    with app.app_context():
        assert figures.behind(get_session(), "shop") == 8
    counts = figures_of(app, NOV_20, NOV_20).totals.counts
    assert [counts[name] for name in ("decisions", "accept_all", "reject_all", "withdrawals")] == [16, 8, 8, 8]
    with app.app_context():
        assert rollup.roll_up("shop") == (0, 0)  # nothing new in any lane
        assert figures.behind(get_session(), "shop") == 0
        heads = dict(get_session().execute(select(ConsentEvent.lane, func.max(ConsentEvent.seq))
                                           .group_by(ConsentEvent.lane)).all())
        positions = get_session().scalars(select(StatsProgress).where(StatsProgress.site_id == "shop")).all()
        assert {(position.lane, position.last_seq) for position in positions} == {
            (lane, heads.get(lane, 0)) for lane in range(4)}


def test_a_decision_counts_as_a_withdrawal_against_the_one_before_it_in_its_lane(app, consent, clock):
    """A visitor whom a raised lane count moved: their decisions in the new lane are compared with each other, not
    with their older one in the first lane (lane 0, seq 10), whose seq is only higher."""
    mover, *others = credentials_in_lane(app, 1, 11, lane_count=4)
    for minute in range(9):
        decide(consent, clock, utc(20, 2, minute), ())
    decide(consent, clock, utc(20, 2, 9), OPTIONAL, visitor_secret=mover)  # lane 0, seq 10
    set_site_lanes(app, 4)
    decide(consent, clock, utc(20, 2, 10), (), visitor_secret=mover)  # lane 1, seq 1
    for minute, other in enumerate(others):
        decide(consent, clock, utc(20, 2, 11 + minute), (), visitor_secret=other)  # lane 1, seqs 2 to 11
    assert [(event.lane, event.seq) for event in consent.stored_events()][-1] == (1, 11)
    before = figures_of(app, NOV_20, NOV_20).totals.counts
    decide(consent, clock, utc(20, 2, 30), (), visitor_secret=mover)  # lane 1, seq 12: refused before, refused again
    after = figures_of(app, NOV_20, NOV_20).totals.counts
    assert (after["decisions"] - before["decisions"], after["withdrawals"] - before["withdrawals"]) == (1, 0)


def test_a_new_time_zone_counts_the_log_again_in_it(app, consent, clock):
    decide(consent, clock, utc(20, 20))  # 04:00 on the 21st in Shanghai, 20:00 on the 20th in UTC
    assert figures_of(app, NOV_21, NOV_21).days == {NOV_21: 1}
    with app.app_context(), write_transaction() as session:
        session.get(Site, "shop").time_zone = "UTC"
    assert figures_of(app, NOV_20, NOV_21).days == {NOV_20: 1, NOV_21: 0}
    with app.app_context():
        assert get_session().get(StatsProgress, ("shop", 0)).time_zone == "UTC"
        assert len(get_session().query(DecisionStats).all()) == 1


def test_banner_marks_are_counted_once_and_deleted(app):
    marks = [("shown", None), ("shown", None), ("shown", None), ("accept_all", 3), ("reject_all", 40)]
    with app.app_context(), write_transaction() as session:
        session.add_all(FunnelMark(site_id="shop", at=utc(20, 2), language="zh-CN", outcome=outcome, seconds=seconds)
                        for outcome, seconds in marks)
    funnel = figures_of(app, NOV_20, NOV_20).funnel
    assert (funnel.shown, funnel.decisions, funnel.left_without_deciding) == (3, 2, 1)
    assert dict(funnel.decided) == {"accept_all": 1, "reject_all": 1} and dict(funnel.seconds) == {5: 1, 60: 1}
    assert funnel.median_seconds() == 5
    with app.app_context():
        assert get_session().query(FunnelMark).count() == 0
    assert figures_of(app, NOV_20, NOV_20).funnel.shown == 3  # counted once, not again


def test_a_site_names_its_time_zone_in_its_file_and_a_wrong_one_is_refused(app):
    from consent.errors import ConsentError
    from consent.sites import configs

    import_site(app, load_site_config(time_zone="Europe/Berlin"))
    with app.app_context():
        assert get_session().get(Site, "shop").time_zone == "Europe/Berlin"
        assert configs.export_site(get_session(), "shop")["time_zone"] == "Europe/Berlin"
    for wrong in ("Mars/Olympus", "../../etc/passwd", "", "UTC+8", "Asia/Shanghai\x00"):
        with pytest.raises(ConsentError, match="Name an IANA time zone"):
            import_site(app, load_site_config(time_zone=wrong))
