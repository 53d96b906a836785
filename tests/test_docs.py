"""The README and docs/ against the code they describe: files they name exist, every setting and every field of a
site's file is documented, the vocabulary tables are the code's."""
import re
from pathlib import Path

import pytest

from consent import config
from consent.sites import config_schema, controller
from consent.sites.vocabulary import TABLES
from docs import vocabulary as vocabulary_tables

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_file_named_exists(document):
    named = set(re.findall(r"`((?:consent|clients|tests|bench|static|templates|docs|examples)/[\w./-]+\.\w+)`",
                           document.read_text(encoding="utf-8")))
    assert named, "the pattern found no path at all"
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_every_file_the_code_names_exists():
    """Comments and docstrings point newcomers at files; after a move they must point at the new place."""
    sources = [ROOT / "gunicorn.conf.py", *(ROOT / "consent").rglob("*.py")]
    named = {(source.relative_to(ROOT).as_posix(), path) for source in sources
             for path in re.findall(r"\b(consent/[\w/]+\.(?:py|json))\b", source.read_text(encoding="utf-8"))}
    assert len(named) > 10, "the pattern found too few paths"
    assert sorted((source, path) for source, path in named if not (ROOT / path).exists()) == []


def test_every_setting_is_in_the_settings_table():
    table = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", table, flags=re.M))
    assert set(config.defaults()) - documented == set()


def configure_a_site():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.search(r"^## Configure a site\n(.*?)^## ", readme, flags=re.M | re.S).group(1)


def table_keys(section):
    """Per markdown table of `section`, the keys its rows name in their first cell (`a`, `b.c`: a, c)."""
    tables = re.findall(r"(?:^\|.*\n)+", section, flags=re.M)
    return [{name.rsplit(".", 1)[-1] for row in table.splitlines()[2:]
             for name in re.findall(r"`([\w.\[\]]+)`", row.split("|")[1])} for table in tables]


# Every object of a site's YAML file, each with the fields a file may give it.
SITE_FILE_SCHEMAS = [
    config_schema.SiteConfigSchema, controller.ControllerSchema, controller.PrivacyOfficerSchema,
    controller.ComplaintsSchema, controller.DeadlineSchema, config_schema.PolicySchema,
    config_schema.BannerTextsSchema, config_schema.PurposeSchema, config_schema.RecipientSchema,
    config_schema.CookieSchema, config_schema.StorageSchema, config_schema.WebhookSchema,
]


def test_every_field_of_a_site_file_is_in_a_table_of_configure_a_site():
    tables = table_keys(configure_a_site())
    assert len(tables) >= 7, "the pattern found too few tables"
    undocumented = {}
    for schema in SITE_FILE_SCHEMAS:
        fields = set(schema().fields)
        closest = max(tables, key=lambda keys, fields=fields: len(fields & keys))
        if fields - closest:
            undocumented[schema.__name__] = sorted(fields - closest)
    assert undocumented == {}


def test_the_vocabulary_tables_are_the_codes_with_their_catalog_labels():
    """The README's tables are what docs/vocabulary.py makes of consent/sites/vocabulary.py and the zh-CN catalog
    (after a change there: .venv/bin/python -m docs.vocabulary)."""
    written = vocabulary_tables.section((ROOT / "README.md").read_text(encoding="utf-8"))
    assert written is not None, "README.md needs its vocabulary markers, once each"
    assert vocabulary_tables.START in configure_a_site()
    assert written == vocabulary_tables.tables(), "out of date: run .venv/bin/python -m docs.vocabulary"
    rows = re.findall(r"^\| `(\w+)` \| (.+) \| (.+) \|$", written, flags=re.M)
    assert len(rows) == sum(map(len, TABLES.values()))
    assert all(english != chinese for _code, english, chinese in rows), "a label is not translated"
