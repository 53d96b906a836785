"""Fuzzing the write paths with hypothesis and schemathesis, on a fixed budget: no input gets a 5xx,
and no refused input stores anything. Each run prints how many inputs it tried."""
import json

import schemathesis
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from consent.storage import db
from consent.storage.models import ConsentEvent, PolicyVersion, Receipt, Site
from tests.conftest import DATA, SHOP_ORIGIN, ConsentActions

CONSENT_BUDGET = 400
RAW_BODY_BUDGET = 150
OPENAPI_BUDGET = 150  # per generation mode: bodies the OpenAPI document allows, and bodies it does not
YAML_BUDGET = 150
# Fixed examples, the same on every run (CI must not be flaky), and no example database on disk.
BUDGET = dict(derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
REFUSALS = {400, 403, 404, 409, 413, 415, 422}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
purpose_ids = st.sampled_from(["necessary", "analytics", "advertising", "marketing_sms",
                               "personalized_recommendation", "telepathy"]) | st.text(max_size=70)
fields_of_a_decision = {
    "site_id": st.sampled_from(["shop", "nope", "", "SHOP", "shop\n"]) | json_values,
    "subject_id": st.none() | st.text(max_size=140) | json_values,
    "visitor_id": st.none() | st.from_regex(r"[A-Za-z0-9_-]{6,70}", fullmatch=True) | json_values,
    "choices": st.dictionaries(purpose_ids, st.booleans() | json_values, max_size=8) | json_values,
    "policy_version": st.sampled_from(["v1", "v0", ""]) | json_values,
    "language": st.sampled_from(["zh-CN", "en", "fr", "EN"]) | json_values,
    "signals": st.fixed_dictionaries({}, optional={"dnt": st.booleans() | json_values,
                                                   "gpc": st.booleans() | json_values}) | json_values,
    "do_not_track": st.booleans() | json_values,
    "collection_method": st.sampled_from(["banner", "api", "telepathy"]) | json_values,
    "idempotency_key": st.none() | st.from_regex(r"[A-Za-z0-9_-]{6,70}", fullmatch=True) | json_values,
}
# Mostly near-valid decisions (each field kept valid or replaced), some with keys that do not exist.
decisions = st.builds(
    lambda valid, replaced, extra: {**valid, **replaced, **extra},
    st.just(ConsentActions(None, None).body()),
    st.fixed_dictionaries({}, optional=fields_of_a_decision),
    st.dictionaries(st.text(max_size=12), json_values, max_size=2),
)
# Any text a header can carry (HTTP has no way to send a newline in one).
header_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)
origins = st.sampled_from([SHOP_ORIGIN, SHOP_ORIGIN, "https://evil.example", None, "null"]) | header_text


class Tally:
    """What a fuzz run tried and how the service answered."""

    def __init__(self, capsys, name, database_url):
        self.capsys, self.name = capsys, name
        self.backend = database_url.split(":", 1)[0].split("+", 1)[0]
        self.tried, self.refused, self.statuses = 0, 0, {}

    def count(self, status, refused):
        self.tried += 1
        self.refused += refused
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def report(self, stored):
        """Print the tally past pytest's capture: it is the figure the README quotes."""
        with self.capsys.disabled():
            print(f"\nfuzz {self.name} [{self.backend}]: {self.tried} inputs tried, {self.refused} refused, "
                  f"{stored}, none from a refused input; answers {dict(sorted(self.statuses.items()))}")


def stored_decisions(app):
    with app.app_context():
        session = db.get_session()
        return (session.scalar(select(func.count()).select_from(ConsentEvent)),
                session.scalar(select(func.count()).select_from(Receipt)))


def check_decision_answer(app, before, response, tally):
    """No 5xx; a refusal is a problem and stores nothing; a 201 stores exactly one event and receipt."""
    tally.count(response.status_code, refused=response.status_code >= 400)
    after = stored_decisions(app)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code == 201:
        assert after == (before[0] + 1, before[1] + 1)
    else:
        assert response.status_code in REFUSALS | {200}, response.status_code
        assert after == before, "a refused or repeated decision stored something"
    if response.status_code in REFUSALS:
        assert response.mimetype == "application/problem+json"
    return after


def test_fuzz_decisions(app_with, database_url, capsys):
    app = app_with()
    client = app.test_client()
    tally = Tally(capsys, "POST /api/v1/consents JSON", database_url)
    state = {"stored": stored_decisions(app)}

    @settings(max_examples=CONSENT_BUDGET, **BUDGET)
    @given(body=decisions, origin=origins, dnt_header=st.sampled_from([None, "1", "0", "yes"]))
    def post(body, origin, dnt_header):
        headers = {name: value for name, value in (("Origin", origin), ("DNT", dnt_header)) if value is not None}
        response = client.post("/api/v1/consents", json=body, headers=headers)
        state["stored"] = check_decision_answer(app, state["stored"], response, tally)

    post()
    tally.report(f"{state['stored'][0]} decisions stored")
    assert tally.tried == CONSENT_BUDGET and tally.statuses.get(201, 0) > 0


def test_fuzz_raw_bodies(app_with, database_url, capsys):
    app = app_with()
    client = app.test_client()
    tally = Tally(capsys, "POST /api/v1/consents raw bytes", database_url)
    state = {"stored": stored_decisions(app)}
    valid = json.dumps(ConsentActions(None, None).body()).encode()

    @settings(max_examples=RAW_BODY_BUDGET, **BUDGET)
    @given(
        data=st.binary(max_size=2048) | st.builds(lambda cut, tail: valid[:cut] + tail,
                                                   st.integers(0, len(valid)), st.binary(max_size=64)),
        content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1",
                                      "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]),
    )
    @example(data=b"[" * 100_000, content_type="application/json")
    @example(data=b'{"site_id": "shop", "pad": "' + b"x" * 40_000 + b'"}', content_type="application/json")
    @example(data=valid.replace(b'"shop"', b'"\\ud800"'), content_type="application/json")
    def post(data, content_type):
        response = client.post("/api/v1/consents", data=data,
                               headers={"Origin": SHOP_ORIGIN, "Content-Type": content_type})
        state["stored"] = check_decision_answer(app, state["stored"], response, tally)

    post()
    tally.report(f"{state['stored'][0]} decisions stored")
    assert tally.tried >= RAW_BODY_BUDGET


def test_fuzz_decisions_from_the_openapi_document(app_with, database_url, capsys):
    """Decisions schemathesis derives from /api/v1/openapi.json, valid and invalid ones, half of them
    aimed at the site, policy and a purpose that exist, so that some get stored."""
    app = app_with()
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)["/api/v1/consents"]["POST"]
    tally = Tally(capsys, "POST /api/v1/consents from the OpenAPI document", database_url)
    state = {"stored": stored_decisions(app)}

    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        @settings(max_examples=OPENAPI_BUDGET, **BUDGET)
        @given(case=operation.as_strategy(generation_mode=mode), aimed=st.booleans())
        def post(case, aimed):
            if aimed and isinstance(case.body, dict):
                case.body.update(site_id="shop", policy_version="v1", choices={"necessary": True})
                case.body.pop("separate_consents", None)
            answer = case.call(headers={"Origin": SHOP_ORIGIN})
            # The same checks as for a test-client response: status, mimetype, stored counts.
            state["stored"] = check_decision_answer(app, state["stored"], AnswerView(answer), tally)

        post()
    tally.report(f"{state['stored'][0]} decisions stored")
    assert tally.tried >= 2 * OPENAPI_BUDGET and tally.statuses.get(201, 0) > 0


class AnswerView:
    """A schemathesis response seen as the test client's: status_code, mimetype, text."""

    def __init__(self, answer):
        self.status_code = answer.status_code
        self.mimetype = (answer.headers.get("content-type") or [""])[0].split(";")[0]
        self.text = answer.text

    def get_data(self, as_text=False):
        return self.text


def site_tables(app):
    """Everything a site import writes, as comparable values."""
    with app.app_context():
        session = db.get_session()
        return (
            [(site.id, site.current_policy_version, site.allowed_origins)
             for site in session.scalars(select(Site).order_by(Site.id))],
            sorted((version.site_id, version.version, [purpose["id"] for purpose in version.purposes])
                   for version in session.scalars(select(PolicyVersion))),
        )


def mutate(config, path, value):
    """The config with the value at `path` (keys and indexes) replaced, or removed when value is REMOVE."""
    target = config
    for step in path[:-1]:
        target = target[step]
    if value is REMOVE:
        del target[path[-1]]
    elif value is not KEEP:
        target[path[-1]] = value
    return config


REMOVE, KEEP = object(), object()
SHOP_YAML = (DATA / "shop.yaml").read_text(encoding="utf-8")
config_paths = st.sampled_from([
    ("id",), ("name",), ("name", "en"), ("controller",), ("controller", "contact"), ("jurisdiction",),
    ("default_language",), ("allowed_origins",), ("allowed_origins", 0), ("policy",), ("policy", "version"),
    ("policy", "url"), ("policy", "text"), ("texts",), ("texts", "title"), ("purposes",), ("purposes", 0),
    ("purposes", 0, "required"), ("purposes", 1, "id"), ("purposes", 1, "tracking"), ("purposes", 2, "recipients"),
    ("purposes", 0, "cookies", 0), ("purposes", 1, "cookies"), ("purposes", 1, "storage"), ("reload_on_withdrawal",),
])
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
) + "purposes: *i\n"


def test_fuzz_site_import(app_with, database_url, capsys, tmp_path):
    app = app_with()
    runner = app.test_cli_runner()
    tally = Tally(capsys, "flask consent site import", database_url)
    path = tmp_path / "site.yaml"

    @settings(max_examples=YAML_BUDGET, **BUDGET)
    @given(
        text=st.one_of(
            st.builds(lambda p, v, new_id: yaml.safe_dump(mutate(mutate(yaml.safe_load(SHOP_YAML), ("id",), new_id),
                                                                 p, v), allow_unicode=True),
                      config_paths, json_values | st.sampled_from([REMOVE, KEEP, KEEP]),
                      st.sampled_from(["shop", "fuzzed", "fuzzed-2"])),
            st.text(max_size=300),
            st.builds(lambda cut, tail: SHOP_YAML[:cut] + tail, st.integers(0, len(SHOP_YAML)), st.text(max_size=20)),
        )
    )
    @example(text=BILLION_LAUGHS)
    @example(text="!!python/object/apply:os.system ['true']")
    def import_one(text):
        path.write_text(text, encoding="utf-8")
        before = site_tables(app)
        result = runner.invoke(args=["consent", "site", "import", str(path)])
        tally.count(f"exit {result.exit_code}", refused=result.exit_code != 0)
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        if result.exit_code == 1:
            assert result.output.startswith("Error: ") and site_tables(app) == before

    import_one()
    _sites, versions = site_tables(app)
    tally.report(f"{len(versions)} policy versions stored")
    assert tally.statuses.get("exit 0", 0) > 0 and tally.statuses.get("exit 1", 0) > 0
