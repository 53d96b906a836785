"""`flask consent site import` refusals speak about the file: one sentence per problem, each on a line of its
own after the file's name, and nothing is stored (a good file imported beside a bad one included)."""
import os
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from consent.sites import configs
from consent.storage import db
from consent.storage.models import PolicyVersion
from tests.conftest import STORAGE_AGNOSTIC, import_site, load_site_config, make_app

pytestmark = STORAGE_AGNOSTIC  # validation and static files: tests/conftest.py

SETTINGS = {"name_zh": "示例商城", "name_en": "Example Shop", "controller_zh": "示例商城有限公司",
            "controller_en": "Example Shop Ltd.", "contact": "privacy@shop.example", "default_language": "zh-CN",
            "allowed_origins": "https://shop.example"}


def stored(app):
    """What an import can change: every site as exported, with its row's last change, and the policy versions."""
    with app.app_context():
        session = db.get_session()
        sites = {site.id: (configs.export_site(session, site.id), site.updated_at)
                 for site in configs.list_sites(session)}
        return sites, session.scalar(select(func.count()).select_from(PolicyVersion))


def changed_shop(**changes):
    """The shop site as a file would change it if it were accepted: renamed, under a new policy version."""
    config = load_site_config(**changes)
    config["name"] = {"zh-CN": "新名字", "en": "New name"}  # not a keyword: load_site_config's `name` is the file
    config["policy"] = {**config["policy"], "version": "v2"}
    return config


def as_bytes(content):
    return content if isinstance(content, bytes) else yaml.safe_dump(content, allow_unicode=True).encode("utf-8")


def refused(app, tmp_path, content):
    """Import a good file (a new site) and then `content` (bytes, or a config to write as YAML) in one command.

    Asserts the command failed without a traceback and stored nothing; returns the bad file's name and the
    lines of the error (after click's "Error: ").
    """
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(load_site_config(id="good")), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(as_bytes(content))
    before = stored(app)
    result = app.test_cli_runner().invoke(args=["consent", "site", "import", str(good), str(bad)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert result.output.startswith("Error: ") and "Traceback" not in result.output
    assert stored(app) == before
    return str(bad), result.output.removeprefix("Error: ").splitlines()


def test_schema_problems_read_as_one_sentence_each(app, tmp_path):
    config = changed_shop(default_language="fr")
    config["controller"]["contact"] = "privacy at shop"
    path, lines = refused(app, tmp_path, config)
    assert lines == [f"{path}: controller: contact: Not a valid email address.",
                     f"{path}: default_language: Must be one of: zh-CN, en."]


def _set(target, key, value):
    target[key] = value


@pytest.mark.parametrize(("spoil", "sentence"), [
    (lambda c: c["purposes"][1]["title"].pop("en"), 'purpose "analytics": title: The English (en) text is missing.'),
    (lambda c: c["purposes"][3].pop("id"), "purpose 4: id: Missing data for required field."),
    (lambda c: c["purposes"][3].update(id=["marketing"]), "purpose 4: id: Not a valid string."),
    (lambda c: c["allowed_origins"].append("https://shop.example/page"),
     'allowed_origins: "https://shop.example/page": An origin is scheme://host[:port], nothing after it.'),
    (lambda c: _set(c["purposes"][1], "cookies", ["_ga", "bad name"]),
     "purpose \"analytics\": cookie \"bad name\": A cookie name: 1-100 letters, digits or !#$%&'+-.^_`|~ "
     "(RFC 6265); with a *, write pattern: instead."),
    (lambda c: _set(c["purposes"][1], "cookies", [{"pattern": "_ga_*", "path": "ga"}]),
     'purpose "analytics": cookie "_ga_*": path: A path starts with / and holds 1-200 visible ASCII characters '
     "but ;."),
    (lambda c: c["purposes"][2]["recipients"][0].update(country="sg"),
     'purpose "advertising": recipient "Example Ad Network": country: An ISO 3166 country code.'),
], ids=["purpose by id", "purpose without id", "purpose of no usable id", "origin", "cookie name", "cookie pattern",
        "recipient"])
def test_list_items_are_named_as_the_file_names_them(app, tmp_path, spoil, sentence):
    config = changed_shop()
    spoil(config)
    path, lines = refused(app, tmp_path, config)
    assert lines == [f"{path}: {sentence}"]


@pytest.mark.parametrize(("title", "sentences"), [
    ({"zh-CN": "标题"}, ["The English (en) text is missing."]),
    ({}, ["The Chinese (zh-CN) and English (en) texts are missing."]),
    ({"zh-CN": "标题", "en": "Title", "fr": "Titre"},
     ["Unexpected language fr; give the text in exactly zh-CN and en."]),
    ({"zh-CN": "标题", "english": "Title"},
     ["The English (en) text is missing.", "Unexpected language english; give the text in exactly zh-CN and en."]),
], ids=["one missing", "both missing", "one unexpected", "one misspelt"])
def test_a_missing_or_unexpected_language_is_named(app, tmp_path, title, sentences):
    config = changed_shop()
    config["texts"]["title"] = title
    path, lines = refused(app, tmp_path, config)
    assert lines == [f"{path}: texts: title: {sentence}" for sentence in sentences]


NOT_TEXT = "a site configuration is a YAML text file, in UTF-8."


@pytest.mark.parametrize(("content", "sentence"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", f"The file is binary (it holds NUL bytes): {NOT_TEXT}"),
    (as_bytes(changed_shop()) + b"\x00", f"The file is binary (it holds NUL bytes): {NOT_TEXT}"),
    ("id: shop\nname: {zh-CN: 新名字, en: x}\n".encode("gb18030"),
     f"The file is not UTF-8 text (byte 0xd0 on line 2 is not UTF-8): {NOT_TEXT}"),
    ("id: shop\n".encode("utf-16"), f"The file is UTF-16 text: {NOT_TEXT}"),
], ids=["png", "nul at the end", "gb18030", "utf-16"])
def test_a_file_that_is_not_utf8_text_is_a_sentence(app, tmp_path, content, sentence):
    path, lines = refused(app, tmp_path, content)
    assert lines == [f"{path}: {sentence}"]


def test_a_file_over_the_size_limit_is_refused(app, tmp_path):
    content = as_bytes(changed_shop()) + b"# padding\n" * 500_000
    path, lines = refused(app, tmp_path, content)
    assert lines == [f"{path}: The file is {len(content):,} bytes; a site configuration may be at most 1,048,576 "
                     "bytes (the setting CONSENT_MAX_SITE_FILE_BYTES)."]


def test_the_size_limit_is_a_setting_from_the_environment(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("CONSENT_MAX_SITE_FILE_BYTES", "4000")
    app = make_app(database_url)
    try:
        import_site(app, load_site_config())
        content = as_bytes(changed_shop()) + b"# padding\n" * 200
        path, lines = refused(app, tmp_path, content)
    finally:
        db.dispose(app)
    assert lines == [f"{path}: The file is {len(content):,} bytes; a site configuration may be at most 4,000 bytes "
                     "(the setting CONSENT_MAX_SITE_FILE_BYTES)."]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_a_file_without_end_is_read_no_further_than_the_limit(app):
    """A device or pipe says it is 0 bytes long; reading it whole would never end."""
    result = app.test_cli_runner().invoke(args=["consent", "site", "import", "/dev/zero"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert result.output == ("Error: /dev/zero: The file is over 1,048,576 bytes; a site configuration may be at most "
                             "1,048,576 bytes (the setting CONSENT_MAX_SITE_FILE_BYTES).\n")


@pytest.mark.parametrize(("content", "sentence"), [
    (b"id: [unclosed\n", "The file is not valid YAML: at line 2, column 1, expected ',' or ']', but got "
                         "'<stream end>' (in the flow sequence from line 1, column 5)."),
    (b"id: shop\n  name: x\n", "The file is not valid YAML: at line 2, column 7, mapping values are not allowed here."),
    (b"id: shop\nname: \x01\n", "The file is not valid YAML: at line 2, column 7, the character #x0001 is not "
                               "allowed."),
    (b"[" * 100_000, "The file nests lists or mappings too deeply to be read."),
    (b"", "The file is empty: a site configuration is a YAML mapping of keys such as id:, name: and purposes:."),
    (b"# only a comment\n",
     "The file is empty: a site configuration is a YAML mapping of keys such as id:, name: and purposes:."),
    (b"- id: shop\n", "The file holds a list: a site configuration is a YAML mapping of keys such as id:, name: "
                      "and purposes:."),
    (b"shop\n", "The file holds a single value: a site configuration is a YAML mapping of keys such as id:, name: "
                "and purposes:."),
    (b"consent_lifetime_months: 1" + b"0" * 5000 + b"\n",
     "The file holds a number of over 4,300 digits, which cannot be read."),
], ids=["unclosed list", "bad indentation", "control character", "nested too deeply", "empty", "only a comment",
        "a list", "a single value", "a number too long"])
def test_yaml_that_is_not_a_site_mapping_is_a_sentence(app, tmp_path, content, sentence):
    path, lines = refused(app, tmp_path, content)
    assert lines == [f"{path}: {sentence}"]


def test_a_file_refused_while_storing_stores_no_other(app, tmp_path):
    """The last file passes every check but rewrites a published version: the good file before it is not kept."""
    config = load_site_config()
    config["policy"] = {**config["policy"], "text": {"zh-CN": "偷偷改过。", "en": "Quietly changed."}}
    path, lines = refused(app, tmp_path, config)
    assert lines == [f"{path}: Policy version 'v1' of site 'shop' is already published with other content. "
                     "Publish the change under a new version."]


def test_every_bad_file_is_named_and_none_is_stored(app, tmp_path):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_bytes(b"id: shop\nname: caf\xe9\n")
    second.write_bytes(as_bytes(changed_shop(jurisdiction="cn")))
    before = stored(app)
    result = app.test_cli_runner().invoke(args=["consent", "site", "import", str(first), str(second)])
    assert result.exit_code == 1 and stored(app) == before
    assert result.output.removeprefix("Error: ").splitlines() == [
        f"{first}: The file is not UTF-8 text (byte 0xe9 on line 2 is not UTF-8): {NOT_TEXT}",
        f"{second}: jurisdiction: String does not match expected pattern.",
    ]


def test_many_problems_are_cut_short(app, tmp_path):
    config = changed_shop(allowed_origins=[f"https://{n}.example/path" for n in range(50)])
    path, lines = refused(app, tmp_path, config)
    assert len(lines) == 21 and lines[-1] == f"{path}: ... and 30 more problems."
    assert lines[0] == f'{path}: allowed_origins: "https://0.example/path": An origin is scheme://host[:port], ' \
                       "nothing after it."


def test_the_console_shows_the_same_sentences(app, operator):
    response = operator.submit("/admin/sites/shop", {**SETTINGS, "allowed_origins": "https://shop.example/page"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert ("<li>allowed_origins: &#34;https://shop.example/page&#34;: An origin is scheme://host[:port], nothing "
            "after it.</li>") in page
    assert "does not match the schema" not in page


def test_example_files_still_import(app, tmp_path):
    """The limits and checks above leave every example the README points to importable."""
    examples = sorted((Path(__file__).parent.parent / "examples" / "sites").glob("*.yaml"))
    result = app.test_cli_runner().invoke(args=["consent", "site", "import", *map(str, examples)])
    assert result.exit_code == 0, result.output
