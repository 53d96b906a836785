"""The README's vocabulary tables: each code of consent/sites/vocabulary.py with its English label and its zh-CN
one from the catalog (translations/zh_Hans_CN/LC_MESSAGES/messages.po).

`.venv/bin/python -m docs.vocabulary` rewrites them in README.md between the markers; tests/test_docs.py fails
while the README holds anything else there.
"""
from pathlib import Path

from babel.messages.pofile import read_po

from consent.sites.vocabulary import TABLES

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CATALOG = ROOT / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
START = "<!-- vocabulary:start: written by `python -m docs.vocabulary`, do not edit by hand -->"
END = "<!-- vocabulary:end -->"
# Where a table's codes are written, when that is not a purpose's key of the table's name.
KEYS = {"role": "recipients[].role"}


def cell(text):
    return " ".join(text.split()).replace("|", "\\|")


def tables():
    """Every table as markdown, under the key that takes its codes."""
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    parts = []
    for name, table in TABLES.items():
        rows = []
        for code, label in table.items():
            english = str(label)  # outside an app, Flask-Babel leaves a label as written: the catalog's msgid
            message = catalog.get(english)
            if message is None or not message.string or message.fuzzy:
                raise LookupError(f"{name}.{code}: {english!r} has no zh-CN translation in {CATALOG.name}")
            rows.append(f"| `{code}` | {cell(english)} | {cell(message.string)} |")
        parts.append("\n".join([f"`{KEYS.get(name, name)}`:", "", "| code | English | 中文 |", "| --- | --- | --- |",
                                *rows]))
    return "\n\n".join(parts)


def section(text):
    """What `text` holds between the markers (None without exactly one of each, in that order)."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(END) < text.index(START):
        return None
    return text.split(START)[1].split(END)[0].strip("\n")


def main():
    text = README.read_text(encoding="utf-8")
    if section(text) is None:
        raise SystemExit(f"README.md needs one {START} and one {END}, in that order.")
    before, rest = text.split(START)
    README.write_text(f"{before}{START}\n\n{tables()}\n\n{END}{rest.split(END)[1]}", encoding="utf-8")


if __name__ == "__main__":
    main()
