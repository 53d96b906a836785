"""Cookies, storage keys and tracker hosts the scanner recognises without the site declaring them.

Two lists, both in consent/scanner/data/ (SOURCE.md there says where each comes from):
- the Open Cookie Database (Apache-2.0, its licence beside it): 2,264 cookies and storage keys of
  international platforms, exact names or prefixes;
- cn-trackers.csv, ours: what the trackers Chinese sites use set and where they send it (Baidu Tongji,
  CNZZ/Umeng, Sensors Data, GrowingIO, Tencent, ByteDance, Alibaba...), which the first lacks, each row
  with the public source that documents it. It adds two columns, Host and Source.

`flask consent scanner update-database FILE` replaces either list with a newer file of the same shape,
after checking every row, so an update can never leave the scanner without one.
"""
import csv
import io
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
COLUMNS = ("ID", "Platform", "Category", "Cookie / Data Key name", "Domain", "Description", "Retention period",
           "Data Controller", "User Privacy & GDPR Rights Portals", "Wildcard match")
# The file each list lives in, and the columns it has beyond the Open Cookie Database's.
LISTS = {"open-cookie-database": ("open-cookie-database.csv", ()),
         "cn-trackers": ("cn-trackers.csv", ("Host", "Source"))}
CATEGORIES = ("Necessary", "Functional", "Analytics", "Marketing", "Personalization", "Security")
MAX_FILE_BYTES = 10 * 1024 * 1024
HOSTNAME = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}")


@dataclass(frozen=True)
class Known:
    """One entry of a list: what a cookie (or storage key, or host) is, and who says so."""

    platform: str
    category: str
    name: str  # the cookie or key name, or its prefix; "" for a host-only entry
    prefix: bool
    domain: str
    host: str
    description: str
    retention: str
    controller: str
    privacy_url: str
    source: str  # the list's name, then the row's own source where it gives one


class KnownCookies:
    """Lookups over the lists: a cookie by exact name first, then by the longest prefix; a host by itself or
    a parent domain."""

    def __init__(self, entries):
        self.exact, self.prefixes, self.hosts = {}, [], {}
        for entry in entries:
            if entry.name and entry.prefix:
                self.prefixes.append(entry)
            elif entry.name:
                self.exact.setdefault(entry.name, entry)
            for host in (entry.host, _hostname(entry.domain)):
                if host:
                    self.hosts.setdefault(host, entry)
        self.prefixes.sort(key=lambda entry: len(entry.name), reverse=True)
        self.size = len(entries)

    def cookie(self, name):
        """The entry for a cookie or storage key `name`, or None when no list knows it."""
        if name in self.exact:
            return self.exact[name]
        return next((entry for entry in self.prefixes if name.startswith(entry.name) and name != entry.name), None)

    def host(self, hostname):
        """The entry for a host a page contacted (`hm.baidu.com`), matching it or any parent domain; or None."""
        labels = (hostname or "").lower().rstrip(".").split(".")
        return next((self.hosts[".".join(labels[at:])] for at in range(len(labels) - 1)
                     if ".".join(labels[at:]) in self.hosts), None)


def _hostname(domain):
    """The host a cookie's Domain column names ("microsoft.com (3rd party)", ".linkedin.com"), or None: the
    platform's own hosts, which a page contacting them contacts that platform."""
    host = re.sub(r"\s*\(3rd party\)\s*\Z", "", domain).lstrip(".")
    return host if HOSTNAME.fullmatch(host) else None


@cache
def known_cookies(folder=DATA):
    """Every list in `folder`, read once per process."""
    entries = []
    for list_name, (filename, _extra) in LISTS.items():
        path = Path(folder) / filename
        if path.exists():
            entries += read_list(list_name, path.read_text(encoding="utf-8"))
    return KnownCookies(entries)


def read_list(list_name, text):
    """The entries of a list's CSV text; ValueError saying which row is wrong, and why, for anything else."""
    _filename, extra = LISTS[list_name]
    reader = csv.DictReader(io.StringIO(text))
    expected = (*COLUMNS, *extra)
    if tuple(reader.fieldnames or ()) != expected:
        raise ValueError(f"The {list_name} list has the columns {', '.join(reader.fieldnames or ['(none)'])}; "
                         f"expected {', '.join(expected)}.")
    entries = []
    for line, row in enumerate(reader, start=2):
        problem = _row_problem(row, extra)
        if problem:
            raise ValueError(f"The {list_name} list, line {line}: {problem}")
        entries.append(Known(
            platform=row["Platform"].strip(), category=row["Category"], name=row["Cookie / Data Key name"].strip(),
            prefix=row["Wildcard match"] == "1", domain=row["Domain"].strip().lower(),
            host=(row.get("Host") or "").strip().lower(), description=row["Description"].strip(),
            retention=row["Retention period"].strip(), controller=row["Data Controller"].strip(),
            privacy_url=row["User Privacy & GDPR Rights Portals"].strip(),
            source=" ".join(filter(None, [list_name, (row.get("Source") or "").strip()])),
        ))
    if not entries:
        raise ValueError(f"The {list_name} list has no entries.")
    return entries


def _row_problem(row, extra):
    if None in row or any(value is None for value in row.values()):
        return "it does not have one value per column."
    if row["Category"] not in CATEGORIES:
        return f"the category {row['Category']!r} is none of {', '.join(CATEGORIES)}."
    if row["Wildcard match"] not in ("0", "1"):
        return "Wildcard match is neither 0 nor 1."
    if not row["Cookie / Data Key name"].strip() and not (row.get("Host") or "").strip():
        return "it names neither a cookie nor a host."
    if "Source" in extra and not row["Source"].startswith("https://"):
        return "its Source is not an https:// address documenting it."
    return None


def update_list(list_name, path, folder=DATA):
    """Replace a list with the CSV file at `path`, checked whole first; returns its number of entries."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is over {MAX_FILE_BYTES:,} bytes: not a cookie list.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text.") from error
    entries = read_list(list_name, text)
    target = Path(folder) / LISTS[list_name][0]
    partial = target.with_suffix(".csv.new")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)  # whole or not at all
    known_cookies.cache_clear()
    return len(entries)
