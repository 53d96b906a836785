"""The scanner's lists of known cookies and trackers (consent/scanner/known.py): the vendored Open Cookie
Database with its licence, the trackers Chinese sites use with their sources, and the command that
updates a list only with a file that is whole and right."""
import csv
import io

import pytest

from consent.scanner import known
from tests.conftest import STORAGE_AGNOSTIC

pytestmark = STORAGE_AGNOSTIC  # files, not storage: tests/conftest.py

DATA = known.DATA


def test_the_open_cookie_database_is_vendored_with_its_licence_and_origin():
    assert "Apache License" in (DATA / "LICENSE-open-cookie-database").read_text(encoding="utf-8")
    source = (DATA / "SOURCE.md").read_text(encoding="utf-8")
    assert "0ee5a17fe1cb002943f89370d24fc26a4226061c" in source and "Apache-2.0" in source
    entries = known.read_list("open-cookie-database", (DATA / "open-cookie-database.csv").read_text(encoding="utf-8"))
    assert len(entries) == 2264


def test_cookies_are_known_by_exact_name_then_by_the_longest_prefix():
    lists = known.known_cookies()
    ga = lists.cookie("_ga")
    assert (ga.platform, ga.category, ga.source) == ("Google Analytics", "Analytics", "open-cookie-database")
    prefixed = next(entry for entry in lists.prefixes if len(entry.name) > 3)
    assert lists.cookie(prefixed.name + "x9") == prefixed
    assert lists.cookie("certainly-not-a-known-cookie") is None


def test_hosts_are_known_with_their_parent_domains():
    lists = known.known_cookies()
    assert lists.host("px.ads.linkedin.com").platform == "LinkedIn"
    assert lists.host("LINKEDIN.COM.").platform == "LinkedIn"
    assert lists.host("com") is None and lists.host("") is None and lists.host("example.invalid") is None


def test_the_trackers_chinese_sites_use_are_known_each_with_its_source():
    entries = known.read_list("cn-trackers", (DATA / "cn-trackers.csv").read_text(encoding="utf-8"))
    assert all(entry.source.startswith("cn-trackers https://") for entry in entries)
    lists = known.known_cookies()
    baidu = lists.cookie("Hm_lvt_0123456789abcdef")  # Baidu Tongji: a prefix and the site's id
    assert baidu is not None and baidu.platform.lower().startswith("baidu")
    assert lists.host("hm.baidu.com") is not None
    platforms = {entry.platform.lower() for entry in entries}
    for vendor in ("baidu", "umeng", "sensors", "growingio", "tencent", "bytedance", "alibaba"):
        assert any(vendor in platform for platform in platforms), vendor


def csv_text(rows, columns=known.COLUMNS):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


GOOD_ROW = ["0b7e9a8e-3c58-4f6a-9a59-6c1f1c1d9e2b", "Example", "Analytics", "_ex", "", "Counts visits", "1 year",
            "Example Inc.", "https://example.com/privacy", "0"]
BAD_FILES = [
    ("other columns", csv_text([GOOD_ROW], columns=("ID", "Name")), "has the columns ID, Name; expected ID"),
    ("no entries", csv_text([]), "has no entries"),
    ("a category of its own", csv_text([[*GOOD_ROW[:2], "Tracking", *GOOD_ROW[3:]]]),
     "line 2: the category 'Tracking' is none of"),
    ("a wildcard that is no flag", csv_text([[*GOOD_ROW[:9], "yes"]]), "line 2: Wildcard match is neither 0 nor 1."),
    ("a short row", csv_text([GOOD_ROW[:4]]), "line 2: it does not have one value per column."),
    ("neither cookie nor host", csv_text([[*GOOD_ROW[:3], " ", *GOOD_ROW[4:]]]), "names neither a cookie nor a host"),
]


@pytest.mark.parametrize(("what", "text", "message"), BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_an_update_with_a_bad_file_is_refused_and_changes_nothing(app, tmp_path, what, text, message):
    before = (DATA / "open-cookie-database.csv").read_bytes()
    bad = tmp_path / "update.csv"
    bad.write_text(text, encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["consent", "scanner", "update-database", str(bad)])
    assert result.exit_code == 1 and message in result.output, result.output
    assert (DATA / "open-cookie-database.csv").read_bytes() == before


def test_a_binary_file_is_refused(app, tmp_path):
    bad = tmp_path / "update.csv"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    result = app.test_cli_runner().invoke(args=["consent", "scanner", "update-database", str(bad)])
    assert result.exit_code == 1 and "is not UTF-8 text" in result.output


def test_an_update_replaces_the_list_whole(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "open-cookie-database.csv").write_text(csv_text([GOOD_ROW]), encoding="utf-8")
    newer = tmp_path / "newer.csv"
    newer.write_text(csv_text([GOOD_ROW, [*GOOD_ROW[:3], "_ex_", *GOOD_ROW[4:9], "1"]]), encoding="utf-8")
    assert known.update_list("open-cookie-database", newer, folder) == 2
    lists = known.known_cookies(folder)
    assert lists.cookie("_ex_42").name == "_ex_" and lists.cookie("_ex").prefix is False
    assert not list(folder.glob("*.new"))
