"""No 5xx for bad input anywhere: every route of the app's url_map, by every kind of caller, with hostile
paths, query strings and bodies (issue 12, finding 6). Rules are read from the app, so a route added
later is fuzzed too. Forms are fuzzed without their CSRF token (WTF_CSRF_ENABLED off), so that bodies
reach the code behind it; other tests check the token itself.
"""
import json
import re
import socket
import time
import zlib
from collections import Counter
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select
from wtforms.fields.core import UnboundField

from consent import forms, schemas
from consent.accounts import operators
from consent.storage import db
from consent.storage.models import Auditor
from consent.storage.operations import AdminUser
from tests.audit_support import import_other_site, make_auditor
from tests.conftest import PASSWORD, SHOP_ORIGIN, ConsentActions, bearer, create_api_key, csrf_token

EXAMPLES_PER_ROUTE = 20
# The same examples on every run (each route with a seed of its own), and no example database on disk.
BUDGET = dict(max_examples=EXAMPLES_PER_ROUTE, database=None, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def encoded(text):
    """`text` percent-encoded as UTF-8; a lone surrogate goes out as the bytes no UTF-8 decoder accepts."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


# Hostile texts, already percent-encoded: they go into paths and query strings as they are.
HOSTILE_ATOMS = [
    "", "x", "shop", "other", "nope", "SHOP", "1", "2", "0", "-1", "99999999999999999999999", "1e309", "NaN",
    "%00", "%ED%A0%80", "%FF%FE", "%C0%AE", "%0A", "%0D%0ASet-Cookie:%20x=1", "..", "%2E%2E%2F%2E%2E", "a" * 300,
    "%E4%B8%AD%E6%96%87", "v1", "en", "zh-CN", "csk_x", "csv", "xml", "true", "maybe", "DELETE",
    "https%3A%2F%2Fevil.example%2F", "%2F%2Fevil.example", "%2Fadmin%2Fsites%2Fother", "javascript:alert(1)",
    "2026-13-45T99:99", "2026-01-01T00:00:00", "2026-01-01T00:00:00%2B99:00", "00000000-0000-0000-0000-000000000000",
]
# Query keys: what our pages read, and what url_for would take as its own arguments if handed request.args.
QUERY_KEYS = [
    "endpoint", "_method", "_external", "_scheme", "_anchor", "values", "lang", "next", "token", "site", "subject",
    "subject_ref", "from", "to", "purpose", "granted", "after", "limit", "format", "saved", "published", "site_id",
    "receipt_id", "%ED%A0%80", "%00",
]
hostile_atoms = st.sampled_from(HOSTILE_ATOMS) | st.text(max_size=20).map(encoded)
query_strings = st.lists(st.tuples(st.sampled_from(QUERY_KEYS) | hostile_atoms, hostile_atoms), max_size=4).map(
    lambda pairs: "&".join(f"{key}={value}" for key, value in pairs))

# Bodies: JSON with the keys our schemas read, forms with the fields our pages post, or raw bytes.
JSON_KEYS = sorted({name for schema in (schemas.ConsentRequestSchema, schemas.VisitorProofSchema,
                                        schemas.ConsentQuerySchema, schemas.AuditEventQuerySchema)
                    for name in schema().fields} | {"count", "head_hash", "note"})
hostile_texts = st.sampled_from(["\ud800", "\udfff", "a\x00b", "\x1f", "", "shop", "v1", "x" * 5000]) \
    | st.text(max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(JSON_KEYS) | st.text(max_size=8),
                                                                 inner, max_size=4),
    max_leaves=10,
)
# Valid bodies with one field made hostile: these get past the shape checks to what hashes and stores.
VALID_BODIES = [ConsentActions(None, None).body(), {"subjects": ["user-1"], "purpose": "marketing_sms"},
                {"subject_id": "user-1", "subject_token": "x" * 40}]
near_valid_bodies = st.builds(lambda body, key, value: {**body, key: value}, st.sampled_from(VALID_BODIES),
                              st.sampled_from(JSON_KEYS), hostile_texts | json_values)
json_bodies = near_valid_bodies | st.dictionaries(st.sampled_from(JSON_KEYS), json_values, max_size=6) | json_values


def form_field_names():
    """Every field name our HTML forms post, with the prefixes the pages give them."""
    names = set()
    for form_class in vars(forms).values():
        if isinstance(form_class, type) and issubclass(form_class, forms.FlaskForm):
            names |= {name for name, value in vars(form_class).items() if isinstance(value, UnboundField)}
    return sorted(names | {f"{prefix}-{name}" for prefix in ("site", "policy", "policy-purposes-0")
                           for name in names})


FORM_FIELDS = form_field_names()
form_bodies = st.dictionaries(st.sampled_from(FORM_FIELDS), hostile_texts | st.sampled_from(HOSTILE_ATOMS), max_size=8)
raw_bodies = st.tuples(st.binary(max_size=300), st.sampled_from(
    ["application/json", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]))
bodies = st.one_of(st.none(), json_bodies.map(lambda body: ("json", body)),
                   form_bodies.map(lambda body: ("form", body)), raw_bodies.map(lambda body: ("raw", body)))
CALLERS = ("anonymous", "owner", "operator", "auditor", "site key", "auditor token", "garbage token")


def request_arguments(body):
    if body is None:
        return {}
    kind, content = body
    if kind == "json":
        return {"data": json.dumps(content), "content_type": "application/json"}  # lone surrogates as \ud800
    if kind == "form":
        data = "&".join(f"{encoded(name)}={encoded(value)}" for name, value in content.items())
        return {"data": data, "content_type": "application/x-www-form-urlencoded"}
    data, content_type = content
    return {"data": data, "content_type": content_type}


def path_of(rule, atoms_for_arguments):
    """The rule's path with each <argument> replaced by a hostile (already encoded) text."""
    values = iter(atoms_for_arguments)
    return re.sub(r"<[^>]+>", lambda _argument: next(values), rule.rule)


@pytest.fixture
def callers(app_with, tmp_path, monkeypatch):
    """An app with two sites, an owner, an operator of `other`, an auditor of `shop`, and a way to be each."""
    def no_dns(*_args, **_kwargs):
        raise socket.gaierror("no DNS in this test")  # webhook URLs are checked, never resolved

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    app = app_with(CONSENT_KEY_DIR=str(tmp_path / "keys"), WTF_CSRF_ENABLED=False)
    import_other_site(app)
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "owner", PASSWORD)
        operators.set_password(session, "operator", PASSWORD, operators.OPERATOR, ["other"])
    auditor_token, _password = make_auditor(app, ["shop"], email="dpo@example.org", password=PASSWORD)
    site_key = create_api_key(app)
    receipt = ConsentActions(app.test_client(), app).post().get_json()
    # What exists, by the name of the URL argument it fills: hostile input then reaches the code behind lookups.
    existing = {"site_id": "shop", "receipt_id": receipt["receipt_id"], "version": "v1", "language": "en",
                "filename": "consent.js", "user_id": "1", "subject_id": "user-1", "prefix": "csk_x",
                "slug": "invalid-request"}

    def as_caller(name):
        """A fresh test client signed in (or not) as `name`, and the headers it sends."""
        client = app.test_client()
        signed_in = {"owner": ("admin", AdminUser, "owner"), "operator": ("admin", AdminUser, "operator"),
                     "auditor": ("auditor", Auditor, "dpo@example.org")}
        if name in signed_in:
            console, model, who = signed_in[name]
            with app.app_context():
                column = model.username if model is AdminUser else model.email
                user = db.get_session().scalars(select(model).where(column == who)).one()
                state = {"id": user.id, "generation": user.session_generation, "since": int(time.time())}
            with client.session_transaction() as session:
                session[console] = state
        tokens = {"site key": bearer(site_key), "auditor token": bearer(auditor_token),
                  "garbage token": bearer("\u00ff" * 40)}
        return client, {"Origin": SHOP_ORIGIN, **tokens.get(name, {})}

    return app, as_caller, existing


def routes(app):
    return sorted(app.url_map.iter_rules(), key=lambda rule: (rule.rule, rule.endpoint))


def ask(as_caller, caller, method, path, query, body):
    """One request; what would have been a 500 (TESTING propagates it) fails the test, saying what was sent."""
    client, headers = as_caller(caller)
    asked = f"{caller}: {method} {path}?{query} with {body!r:.300}"
    try:
        response = client.open(f"{path}?{query}", method=method, headers=headers, **request_arguments(body))
    except Exception as error:
        raise AssertionError(f"{asked}: {error!r}") from error
    assert response.status_code < 500, f"{asked}: {response.get_data(as_text=True)[:300]}"
    return response.status_code


# Tried on every route, with every method and by every caller: the kinds of input that have broken a page.
ALWAYS_TRIED = [
    ("endpoint=x&_method=DELETE&_external=1&_scheme=javascript&_anchor=x&values=x&lang=en", None),
    ("lang=%ED%A0%80&next=%2F%2Fevil.example&site=shop&subject=%00&token=%00", ("json", [1])),
    ("site=shop&subject=%ED%A0%80&from=garbage&after=-1&format=xml&limit=99999999999999999999",
     ("json", {"username": {"x": 1}, "site_id": "\ud800", "subjects": ["\ud800"], "purpose": True})),
    ("site=other", ("form", {"csrf_token": "\ud800", "site-site_id": "\x00", "role": "owner", "sites": "nope"})),
]


def test_every_route_answers_known_hostile_requests_without_a_server_error(callers, capsys):
    app, as_caller, existing = callers
    answers = Counter()
    for rule in routes(app):
        path = re.sub(r"<(?:[^:>]+:)?([a-z_]+)>|<any\([^)]*\):([a-z_]+)>",
                      lambda match: existing.get(match.group(1) or match.group(2), "x"), rule.rule)
        for method in sorted(rule.methods - {"HEAD"}):  # HEAD is GET without the body
            for caller in CALLERS:
                for query, body in ALWAYS_TRIED:
                    answers[ask(as_caller, caller, method, path, query, body)] += 1
    report(app, capsys, "known hostile requests", answers)


def report(app, capsys, what, answers):
    backend = app.config["DATABASE_URL"].split(":", 1)[0].split("+", 1)[0]
    with capsys.disabled():
        print(f"\nfuzz every route, {what} [{backend}]: {sum(answers.values())} requests; "
              f"answers {dict(sorted(answers.items()))}")


def test_every_route_answers_generated_hostile_input_without_a_server_error(callers, capsys):
    app, as_caller, existing = callers
    path_atoms = st.sampled_from(sorted(existing.values())) | hostile_atoms
    answers, routes_tried = Counter(), set()

    def fuzz(rule):
        count = len(rule.arguments)

        @seed(zlib.crc32(f"{rule.rule} {rule.endpoint}".encode()))
        @settings(**BUDGET)
        @given(method=st.sampled_from(sorted(rule.methods)), caller=st.sampled_from(CALLERS),
               arguments=st.lists(path_atoms, min_size=count, max_size=count), query=query_strings, body=bodies)
        def call(method, caller, arguments, query, body):
            answers[ask(as_caller, caller, method, path_of(rule, arguments), query, body)] += 1
            routes_tried.add((rule.rule, rule.endpoint))

        call()

    for rule in routes(app):
        fuzz(rule)

    report(app, capsys, f"{EXAMPLES_PER_ROUTE} generated requests each", answers)
    assert routes_tried == {(rule.rule, rule.endpoint) for rule in routes(app)}


# --- The cases found by hand (issue 12, finding 6), kept as a table --------------------------------

URL_FOR_ARGUMENTS = ["endpoint=x", "_method=DELETE", "_external=1", "_scheme=javascript", "_anchor=x", "values=x"]


@pytest.mark.parametrize("page", ["/audit/", "/audit/?site=shop&subject=alice", "/audit/login", "/audit/receipts/{}"])
def test_auditor_pages_ignore_query_parameters_named_like_url_for_arguments(app, consent, page):
    receipt_id = consent.post().get_json()["receipt_id"]
    client = app.test_client()
    make_auditor(app, ["shop"], email="dpo@example.org", password=PASSWORD)
    token = csrf_token(client.get("/audit/login").get_data(as_text=True))
    client.post("/audit/login", data={"email": "dpo@example.org", "password": PASSWORD, "csrf_token": token})
    for argument in URL_FOR_ARGUMENTS:
        answer = client.get(f"{page.format(receipt_id)}{'&' if '?' in page else '?'}{argument}&lang=en")
        assert answer.status_code == 200, argument
        links = re.findall(r'href="([^"]*lang=zh-CN[^"]*)"', answer.get_data(as_text=True))
        assert links and not any(argument.split("=")[0] in link for link in links), argument


SURROGATE_DECISIONS = [{field: "\ud800"} for field in ("site_id", "subject_id", "subject_token", "visitor_secret",
                                                         "visitor_id", "policy_version", "language", "idempotency_key",
                                                         "collection_method", "links_receipt_id", "age_statement")]
SURROGATE_DECISIONS += [{"choices": {"necessary": True, "\ud800": True}}, {"separate_consents": ["\ud800"]},
                        {"signals": {"\ud800": True}}, {"\ud800": "x"}]


@pytest.mark.parametrize("changes", SURROGATE_DECISIONS, ids=[json.dumps(c) for c in SURROGATE_DECISIONS])
def test_a_lone_surrogate_in_a_decision_is_refused_not_a_server_error(consent, changes):
    answer = consent.client.post("/api/v1/consents", data=json.dumps(consent.body(**changes)),
                                 content_type="application/json", headers={"Origin": SHOP_ORIGIN})
    assert answer.status_code in (409, 422) and answer.mimetype == "application/problem+json"
    assert consent.stored_events() == []


@pytest.mark.parametrize("body", [{"subjects": ["\ud800"], "purpose": "marketing_sms"},
                                  {"subjects": ["user-1", "a\udfffb"], "purpose": "marketing_sms"},
                                  {"subjects": ["user-1"], "purpose": "\ud800"}])
def test_a_lone_surrogate_in_a_consent_query_is_refused(client, shop_key, body):
    answer = client.post("/api/v1/sites/shop/consents/query", data=json.dumps(body),
                         content_type="application/json", headers=bearer(shop_key))
    assert answer.status_code == 422


@pytest.mark.parametrize("body", ["[1]", "true", '{"username": {"x": 1}}', '[["a"]]', '{"csrf_token": null}'])
def test_json_posted_to_a_page_form_is_an_empty_form_not_a_server_error(app, body):
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:any\([^)]*\):)?[^>]+>", lambda _argument: "shop", rule.rule)
            answer = client.post(path, data=body, content_type="application/json")
            assert answer.status_code < 500, rule.rule
