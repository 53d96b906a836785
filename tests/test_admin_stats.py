"""The console's Statistics page and its CSV (consent/admin/stats.py), and its charts (consent/admin/stats_chart.py):
exact figures from known decisions, small cells suppressed, both languages, hostile periods."""
import csv
import io
import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, date, datetime

import pytest

from consent.admin import stats_chart
from consent.stats import rollup
from tests.conftest import STORAGE_AGNOSTIC
from tests.test_stats import OPTIONAL, decide, utc

pytestmark = STORAGE_AGNOSTIC  # page logic over the counters; tests/test_stats.py runs the roll-up on both
PERIOD = "from=2026-11-20&to=2026-11-21"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def decided(app, consent, clock):
    """Twelve decisions on the 20th (11 in Chinese, 1 in English), one on the 21st; a week earlier, two."""
    for hour in range(11):
        decide(consent, clock, utc(20, hour), OPTIONAL if hour < 8 else ())
    decide(consent, clock, utc(20, 11), ("analytics",), language="en")
    decide(consent, clock, utc(21, 2), OPTIONAL)
    decide(consent, clock, utc(13, 2), ())
    decide(consent, clock, utc(14, 2), ())
    clock.set(datetime(2026, 11, 22, 4, tzinfo=UTC))
    with app.app_context():
        rollup.roll_up_all()


def page_of(operator, query):
    """The page with the whitespace between tags left out."""
    return re.sub(r">\s+<", "><", operator.client.get(f"/admin/sites/shop/stats?{query}").get_data(as_text=True))


def test_the_page_shows_exact_figures_with_small_cells_suppressed(operator, decided):
    page = page_of(operator, f"{PERIOD}&lang=en")
    assert "Days of the time zone Asia/Shanghai, compared with the 2 days before (2026-11-18 to 2026-11-19)" in page
    # 13 decisions: 9 accept all, 3 reject all, 1 custom; the period before had 0 (the 13th and 14th are earlier).
    assert "<tr><th scope=\"row\">Decisions</th><td>13</td><td>0</td>" in page
    assert "<th scope=\"row\">Accept all</th><td>69.2 %</td><td>—</td><td>—</td>" in page
    # By language: each cell of 1 to 9 is "< 10" and its share is not shown; 0 and 12 are.
    assert ("<th scope=\"row\">en</th><td>&lt; 10</td><td>0</td><td>0</td><td>&lt; 10</td><td>0</td>") in page
    assert ("<th scope=\"row\">zh-CN</th><td>12</td><td>&lt; 10</td><td>&lt; 10</td><td>0 (0.0 %)</td>"
            "<td>0 (0.0 %)</td>") in page
    assert "style=" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_the_page_in_chinese(operator, decided):
    page = page_of(operator, f"{PERIOD}&lang=zh-CN")
    assert "<h1>统计</h1>" in page and "全部接受" in page and "访问统计" in page  # the purpose's own Chinese title


def test_the_csv_has_the_same_figures_and_suppresses_the_same_cells(operator, decided):
    answer = operator.client.get(f"/admin/sites/shop/stats.csv?{PERIOD}")
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0] == ["section", "key", "measure", "2026-11-20..2026-11-21", "2026-11-18..2026-11-19"]
    assert ["day", "2026-11-20", "decisions", "12", ""] in rows and ["day", "2026-11-21", "decisions", "1", ""] in rows
    assert ["total", "", "accept_all share", "0.6923", ""] in rows
    assert ["language", "en", "decisions", "<10", "0"] in rows and ["language", "zh-CN", "decisions", "12", "0"] in rows
    assert ["purpose", "analytics", "granted share", "0.7692", "0.0000"] in rows
    # 8 grants among Chinese decisions: too few to show as a share of that language
    assert ["language", "zh-CN", "analytics granted share", "", ""] in rows


@pytest.mark.parametrize("query", ["from=2026-13-01", "from=yesterday", "from=2026-11-21&to=2026-11-20",
                                   "from=1999-01-01&to=1999-01-02", "from=2020-01-01&to=2026-01-01", "from=%00",
                                   "from=2026-11-20&to=" + "9" * 5000])
def test_a_period_that_is_not_one_says_so_and_shows_the_default(operator, query):
    answer = operator.client.get(f"/admin/sites/shop/stats?{query}&lang=en")
    assert answer.status_code == 422 and "the last 30 days are shown" in answer.get_data(as_text=True)
    assert operator.client.get(f"/admin/sites/shop/stats.csv?{query}").status_code == 422


def test_an_unknown_site_is_not_found(operator):
    assert operator.client.get("/admin/sites/nosuch/stats").status_code in (403, 404)


def test_daily_columns_scale_to_the_busiest_day():
    svg = ElementTree.fromstring(str(stats_chart.daily_columns(
        [(date(2026, 11, 20), 4), (date(2026, 11, 21), 0), (date(2026, 11, 22), 2)])))
    assert [(rect.get("x"), rect.get("height")) for rect in svg.iter(f"{SVG}rect")] == [("8", "120.0"), ("56", "60.0")]
    assert [text.text for text in svg.iter(f"{SVG}text")] == ["4", "11-20", "11-22"]
    assert stats_chart.daily_columns([]) == ""


def test_share_bars_are_as_wide_as_their_share():
    svg = ElementTree.fromstring(str(stats_chart.share_bars([("Analytics", 0.5, 0.25), ("Ads", None, None)])))
    assert [rect.get("width") for rect in svg.iter(f"{SVG}rect")] == ["160.0", "80.0"]
    assert [text.text for text in svg.iter(f"{SVG}text")] == ["Analytics", "50%", "Ads"]


def test_the_settings_set_the_time_zone_and_refuse_an_unknown_one(app, operator):
    from consent.storage.db import get_session
    from consent.storage.models import Site
    from tests.test_admin import SETTINGS

    assert operator.submit("/admin/sites/shop", {**SETTINGS, "time_zone": "Europe/Berlin"}).status_code == 303
    for wrong in ("Mars/Olympus", "Europe/Berlin; DROP", "x" * 65):
        refused = operator.submit("/admin/sites/shop?lang=en", {**SETTINGS, "time_zone": wrong})
        assert refused.status_code == 422
        assert ("Field cannot be longer than 64 characters" if len(wrong) > 64 else
                "Name an IANA time zone, such as Asia/Shanghai or Europe/Berlin.") in refused.get_data(as_text=True)
    assert operator.submit("/admin/sites/shop", {**SETTINGS, "time_zone": ""}).status_code == 303
    with app.app_context():
        assert get_session().get(Site, "shop").time_zone is None  # empty: the jurisdiction's again
