"""What a host page downloads before its banner: the widget script and its config, minified and compressed
by the app itself, revalidated cheaply, and within the 8 KB budget on the wire."""
import gzip
import json
import os
from pathlib import Path

import brotli
import pytest
import rjsmin
import yaml

from tests.conftest import import_site
from tests.test_widget_source import later_than_es2017

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "static" / "consent.js").read_text(encoding="utf-8")
DEMO = yaml.safe_load((ROOT / "examples" / "sites" / "demo.yaml").read_text(encoding="utf-8"))
# Every byte of response body a host page receives before the banner shows (script, then config), with
# the encoding every current browser accepts: the budget, 8 KB.
BUDGET_BYTES = 8 * 1024
DECODE = {"br": brotli.decompress, "gzip": gzip.decompress, None: lambda body: body}


def fetch(client, path, encoding, **headers):
    response = client.get(path, headers={"Accept-Encoding": encoding, **headers})
    assert response.status_code == 200, response.status_code
    return response


@pytest.mark.parametrize(("accepted", "sent"), [("gzip, deflate, br", "br"), ("br;q=0.5, gzip", "br"),
                                                ("gzip", "gzip"), ("deflate", None), ("", None),
                                                ("br;q=0, gzip;q=0", None), ("*", "br"), ("x" * 5000, None),
                                                (";;;,,", None), ("br;q=nonsense", None)])
def test_the_script_is_the_minified_source_in_the_encoding_asked_for(client, accepted, sent):
    response = fetch(client, "/static/consent.js", accepted)
    assert response.headers.get("Content-Encoding") == sent
    assert response.mimetype == "text/javascript" and "Accept-Encoding" in response.headers["Vary"]
    assert DECODE[sent](response.data).decode() == rjsmin.jsmin(SOURCE)


def test_the_minified_script_is_still_es2017_and_much_smaller():
    minified = rjsmin.jsmin(SOURCE)
    assert later_than_es2017(minified) == []
    assert len(minified) < 0.75 * len(SOURCE)


def test_the_config_is_compressed_too(client):
    path = "/api/v1/sites/shop/config?lang=zh-CN"
    plain = fetch(client, path, "").get_json()
    for encoding in ("br", "gzip"):
        response = fetch(client, path, encoding)
        assert response.headers["Content-Encoding"] == encoding
        assert json.loads(DECODE[encoding](response.data)) == plain


@pytest.mark.parametrize("path", ["/static/consent.js", "/api/v1/sites/shop/config?lang=en"])
def test_each_encoding_has_its_own_etag_and_a_returning_visitor_gets_a_304(client, path):
    tags = {encoding: fetch(client, path, encoding).headers["ETag"] for encoding in ("br", "gzip", "")}
    assert len(set(tags.values())) == 3
    again = client.get(path, headers={"Accept-Encoding": "br", "If-None-Match": tags["br"]})
    assert again.status_code == 304 and again.data == b""
    # A validator of another encoding is not this representation's: the full answer, not a 304.
    other = client.get(path, headers={"Accept-Encoding": "br", "If-None-Match": tags["gzip"]})
    assert other.status_code == 200 and other.headers["Content-Encoding"] == "br"


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_before_the_banner_the_demo_site_sends_at_most_8_kb(app, client, language):
    import_site(app, DEMO)
    script = fetch(client, "/static/consent.js", "gzip, deflate, br")
    config = fetch(client, f"/api/v1/sites/demo/config?lang={language}", "gzip, deflate, br",
                   Origin=DEMO["allowed_origins"][0])
    assert len(script.data) + len(config.data) <= BUDGET_BYTES, (len(script.data), len(config.data))


def test_in_debug_mode_an_edited_script_is_served_at_once(app, client, tmp_path):
    """Workers build the served script when they start; a developer running with --debug edits the file and
    reloads the page, without restarting anything."""
    script = tmp_path / "consent.js"
    app.static_folder, app.debug = str(tmp_path), True
    for number, text in enumerate(["var first = 1 ;  // one", "var second = 2 ;  // two"]):
        script.write_text(text, encoding="utf-8")
        os.utime(script, (1_000_000 + number, 1_000_000 + number))
        assert fetch(client, "/static/consent.js", "").data.decode() == rjsmin.jsmin(text)
