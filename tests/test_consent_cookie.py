"""The backend cookie helpers (clients/python/consent_cookie.py, clients/node/consent_cookie.js) and the README's
snippets using them: a live decision of the widget is sent back as it is, for the time it has left; anything
else, hostile values above all, gets nothing. Both helpers answer every case alike (Node where installed).
"""
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask

from consent.ledger.lifetime import epoch_ms, expiry

ROOT = Path(__file__).parent.parent
PYTHON_HELPER = ROOT / "clients" / "python" / "consent_cookie.py"
NODE_HELPER = ROOT / "clients" / "node" / "consent_cookie.js"
README = ROOT / "README.md"
SPEC = importlib.util.spec_from_file_location("consent_cookie", PYTHON_HELPER)
helper = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(helper)

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
NOW_MS = epoch_ms(NOW)
DAY_MS = 24 * 3600 * 1000
DECIDED_MS = NOW_MS - 10 * DAY_MS
TWELVE_MONTHS_MS = epoch_ms(expiry(datetime(2026, 3, 21, 12, 0, tzinfo=UTC), 12))
LONGEST_MS = epoch_ms(expiry(datetime(2026, 3, 21, 12, 0, tzinfo=UTC), 13)) + DAY_MS


def encoded(text):
    """What the widget's encodeURIComponent makes of a text."""
    return quote(text, safe="-_.!~*'()")


def cookie(**changes):
    """The widget's cookie value for a decision 10 days old expiring in 12 months, with `changes`."""
    decision = {"v": "v1", "c": {"necessary": True, "analytics": False}, "t": DECIDED_MS, "l": "zh-CN",
                "s": "Vq3nZ8yKp0bW4xRt7uLm2A", "r": "0b7e9a8e-3c58-4f6a-9a59-6c1f1c1d9e2b", "e": TWELVE_MONTHS_MS}
    decision.update(changes)
    decision = {key: value for key, value in decision.items() if value is not ...}  # ... leaves a key out
    return encoded(json.dumps(decision, separators=(",", ":"), ensure_ascii=False))


def nested(depth):
    value = []
    for _ in range(depth - 2):  # the decision itself and the innermost list count too
        value = [value]
    return value


LIVE = {
    "a fresh decision": (cookie(), (TWELVE_MONTHS_MS - NOW_MS) // 1000),
    "one of 13 months and a day": (cookie(e=LONGEST_MS), (LONGEST_MS - NOW_MS) // 1000),
    "one second left": (cookie(e=NOW_MS + 1000), 1),
    "a device clock up to a day ahead": (cookie(t=NOW_MS + DAY_MS, e=NOW_MS + 2 * DAY_MS), 2 * DAY_MS // 1000),
    "Chinese in it": (cookie(l="中文", c={"营销短信": True}), (TWELVE_MONTHS_MS - NOW_MS) // 1000),
    "whole numbers written as floats": (cookie(t=float(DECIDED_MS)), (TWELVE_MONTHS_MS - NOW_MS) // 1000),
    "arrays and objects 16 deep": (cookie(x=nested(16)), (TWELVE_MONTHS_MS - NOW_MS) // 1000),
    # JSON.parse keeps the last of a repeated key, and so does the helper: both read the same decision.
    "a repeated key, the last one valid": (cookie().replace(encoded('"t":'), encoded('"t":"bad","t":'), 1),
                                           (TWELVE_MONTHS_MS - NOW_MS) // 1000),
}
SIZED = cookie(pad="")
EXACTLY_4096 = cookie(pad="x" * (4096 - len(SIZED)))
REFUSED = {
    "nothing": None, "empty": "", "a number": 5, "a list": [cookie()],
    "4097 bytes": cookie(pad="x" * (4097 - len(SIZED))),
    "JSON not encoded": json.dumps({"v": "v1", "c": {}, "t": DECIDED_MS, "e": TWELVE_MONTHS_MS}),
    "an attribute smuggled in": cookie() + "; Domain=evil.example",
    "a header smuggled in": cookie() + "\r\nSet-Cookie: id=1",
    "a space": cookie() + " ",
    "a bad escape": cookie() + "%zz", "a cut escape": cookie() + "%",
    "cut UTF-8": encoded('{"v":"v1","c":{},"t":1,"e":2,"l":"') + "%E4%B8" + encoded('"}'),
    "an encoded lone surrogate": encoded('{"v":"v1","c":{},"t":1,"e":2,"l":"') + "%ED%A0%80" + encoded('"}'),
    "not JSON": "hello", "a JSON array": encoded("[1,2]"), "a JSON string": encoded('"x"'), "null": "null",
    "NaN": encoded(f'{{"v":"v1","c":{{}},"t":NaN,"e":{TWELVE_MONTHS_MS}}}'),
    "Infinity": encoded(f'{{"v":"v1","c":{{}},"t":{DECIDED_MS},"e":Infinity}}'),
    "a huge number": encoded(f'{{"v":"v1","c":{{}},"t":{DECIDED_MS},"e":1{"0" * 400}}}'),
    "no decision time": cookie(t=...), "no expiry": cookie(e=...),
    "a decision time as text": cookie(t=str(DECIDED_MS)), "a decision time of true": cookie(t=True),
    "a fractional expiry": cookie(e=TWELVE_MONTHS_MS + 0.5), "a negative decision time": cookie(t=-1),
    "beyond JavaScript's whole numbers": cookie(t=2**53, e=2**53 + 1000),
    "an expiry at its decision": cookie(e=DECIDED_MS), "an expiry before its decision": cookie(e=DECIDED_MS - 1),
    "an expiry now": cookie(e=NOW_MS), "an expiry just past": cookie(e=NOW_MS - 1),
    "less than a second left": cookie(e=NOW_MS + 999),
    "an expiry a millisecond too late": cookie(e=LONGEST_MS + 1),
    "an identifier for ten years": cookie(e=NOW_MS + 3650 * DAY_MS),
    "a decision in the future": cookie(t=NOW_MS + DAY_MS + 1, e=NOW_MS + 30 * DAY_MS),
    "a decision ten years ahead": cookie(t=NOW_MS + 3650 * DAY_MS, e=NOW_MS + 3700 * DAY_MS),
    "no policy version": cookie(v=...), "an empty policy version": cookie(v=""), "a numeric version": cookie(v=1),
    "no choices": cookie(c=...), "choices as a list": cookie(c=[True]), "a choice of yes": cookie(c={"a": "yes"}),
    "a choice of 1": cookie(c={"a": 1}), "too deep": cookie(x=nested(17)),
    "600 deep": cookie(x=nested(600)),
}
CASES = {**{name: (value, left) for name, (value, left) in LIVE.items()},
         "exactly 4096 bytes": (EXACTLY_4096, (TWELVE_MONTHS_MS - NOW_MS) // 1000),
         **{name: (value, None) for name, value in REFUSED.items()}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_python_helper(name):
    value, left = CASES[name]
    assert helper.remaining_seconds(value, NOW) == left
    header = helper.refreshed_cookie(value, "shop", now=NOW)
    assert header == (None if left is None else f"consent_shop={value}; Max-Age={left}; Path=/; SameSite=Lax; Secure")


def test_the_cookie_is_sent_back_byte_for_byte_with_its_attributes_and_never_httponly():
    value = cookie()
    left = (TWELVE_MONTHS_MS - NOW_MS) // 1000
    assert helper.refreshed_cookie(value, "shop", now=NOW, domain="shop.example", secure=False) == (
        f"consent_shop={value}; Max-Age={left}; Path=/; Domain=shop.example; SameSite=Lax")
    assert "HttpOnly" not in helper.refreshed_cookie(value, "shop", now=NOW)
    assert len(EXACTLY_4096.encode()) == 4096


def test_a_refresh_never_extends_a_decision():
    later = NOW + timedelta(days=100)
    first = helper.refreshed_cookie(cookie(), "shop", now=NOW)
    second = helper.refreshed_cookie(re.match(r"consent_shop=([^;]+)", first).group(1), "shop", now=later)
    assert int(re.search(r"Max-Age=(\d+)", second).group(1)) == (TWELVE_MONTHS_MS - epoch_ms(later)) // 1000


@pytest.mark.parametrize(("site_id", "name"), [("shop", "consent_shop"), ("my-site-2", "consent_my-site-2"),
                                               ("Shop_1", "consent_hop1")])
def test_the_cookie_name_is_the_widgets(site_id, name):
    assert helper.cookie_name(site_id) == name


@pytest.mark.parametrize(("site_id", "domain"), [("", None), ("_", None), ("shop", "shop.example; HttpOnly"),
                                                 ("shop", ".shop.example"), ("shop", "SHOP.example"),
                                                 ("shop", "shop.example\n"), ("shop", "localhost")])
def test_a_wrong_site_id_or_domain_is_the_callers_mistake(site_id, domain):
    with pytest.raises(ValueError):
        helper.refreshed_cookie(cookie(), site_id, now=NOW, domain=domain)


def readme_snippet(language, marker):
    section = README.read_text(encoding="utf-8").split("## Decision lifetime", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)
    [snippet] = [block for block in blocks if marker in block]
    return snippet


def test_the_readme_flask_example_refreshes_the_cookie(monkeypatch):
    monkeypatch.syspath_prepend(str(PYTHON_HELPER.parent))
    monkeypatch.delitem(sys.modules, "consent_cookie", raising=False)
    namespace = {"__name__": "site_backend"}
    exec(readme_snippet("python", "after_request"), namespace)
    app: Flask = namespace["app"]
    app.add_url_rule("/", "page", lambda: "a page")
    value = cookie(t=epoch_ms(datetime.now(UTC)) - DAY_MS, e=epoch_ms(datetime.now(UTC)) + 30 * DAY_MS)
    client = app.test_client()
    client.set_cookie("consent_shop", value)
    [header] = client.get("/").headers.getlist("Set-Cookie")
    assert header.startswith(f"consent_shop={value}; Max-Age=") and header.endswith("; Path=/; SameSite=Lax; Secure")
    forged = app.test_client()
    forged.set_cookie("consent_shop", cookie(e=epoch_ms(datetime.now(UTC)) + 3650 * DAY_MS))
    assert forged.get("/").headers.getlist("Set-Cookie") == []


NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def run_node(script, stdin, cwd):
    done = subprocess.run([NODE, "-e", script], input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_node
def test_the_node_helper_answers_every_case_as_the_python_one():
    names = sorted(CASES)
    script = """
const helper = require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map(([value, now]) => [helper.remainingSeconds(value, now),
  helper.refreshedCookie(value, "shop", { now })])));
"""
    answers = run_node(script.replace("process.argv[1]", json.dumps(str(NODE_HELPER))),
                       json.dumps([[CASES[name][0], NOW_MS] for name in names]), ROOT)
    expected = [[CASES[name][1], helper.refreshed_cookie(CASES[name][0], "shop", now=NOW)] for name in names]
    assert dict(zip(names, answers, strict=True)) == dict(zip(names, expected, strict=True))


@needs_node
def test_the_readme_express_example_refreshes_the_cookie():
    now = epoch_ms(datetime.now(UTC))
    live, forged = cookie(t=now - DAY_MS, e=now + 30 * DAY_MS), cookie(t=now - DAY_MS, e=now + 3650 * DAY_MS)
    script = "const app = { use(middleware) { app.middleware = middleware; } };\n" + readme_snippet(
        "javascript", "app.use") + """
const answers = JSON.parse(require("fs").readFileSync(0, "utf8")).map((cookieHeader) => {
  const headers = [];
  app.middleware({ headers: { cookie: cookieHeader } }, { append: (name, value) => headers.push([name, value]) },
    () => {});
  return headers;
});
process.stdout.write(JSON.stringify(answers));
"""
    answers = run_node(script, json.dumps([f"theme=dark; consent_shop={live}", f"consent_shop={forged}", None]),
                       NODE_HELPER.parent)
    [[name, header]] = answers[0]
    assert name == "Set-Cookie" and header.startswith(f"consent_shop={live}; Max-Age=")
    assert answers[1:] == [[], []]
