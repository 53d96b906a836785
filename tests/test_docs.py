"""The README and docs/ against the code they describe: files they name exist, every setting is documented."""
import re
from pathlib import Path

import pytest

from consent import config

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
