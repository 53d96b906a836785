"""Fixtures shared by every test: an app on each storage backend, its client, and consent helpers.

Every test that uses `app` runs once on SQLite and once on a real PostgreSQL server, each time on
a fresh database copied from one migrated template (CONSENT_TEST_BACKENDS=sqlite limits the run). A
module whose tests exercise no storage behaviour of their own (validation before any write, static files,
console and page logic over the storage module) is marked STORAGE_AGNOSTIC and runs on the first backend
only: a second run would check the same code again. What differs between the backends (locks, the chain,
constraints such as PostgreSQL's refusal of NUL and of over-long text) stays tested on both, among others
by test_route_fuzz.py, which drives every route, the consoles' too, with hostile input.
"""
import copy
import functools
import itertools
import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload
from werkzeug.routing import Rule

from consent import clock as service_clock
from consent import create_app
from consent.accounts import operators, passwords
from consent.ledger import lanes
from consent.sites import configs
from consent.storage import db
from consent.storage.models import ConsentEvent, Receipt, Site
from consent.subjects import identity
from tests.postgres import TemporaryCluster

DATA = Path(__file__).parent / "data"
BACKENDS = os.environ.get("CONSENT_TEST_BACKENDS", "sqlite,postgresql").split(",")
SHOP_ORIGIN = "https://shop.example"
_database_numbers = itertools.count()
STORAGE_AGNOSTIC = pytest.mark.storage_agnostic


def pytest_collection_modifyitems(config, items):
    """Leave out the runs of STORAGE_AGNOSTIC tests on every backend but the first."""
    kept, dropped = [], []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("database_url")
        other_backend = backend is not None and backend != BACKENDS[0]
        (dropped if other_backend and item.get_closest_marker("storage_agnostic") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _remember_url_builders():
    """Each test's app compiles its ~50 URL rules anew, and Werkzeug makes every rule's two URL builders by
    generating and compiling Python code: over half the cost of the `app` fixture. A builder depends only on
    the rule's text, parsed parts and defaults, and takes the rule it serves as its argument, so one
    compiled for a rule of the same text serves every later app. Tests only: the service makes one app."""
    compile_builder = getattr(Rule, "_compile_builder", None)
    if compile_builder is None:  # another Werkzeug: slower tests, the same results
        return
    built = {}

    def remembered(rule, append_unknown=True):
        key = (rule.rule, tuple(rule._trace), repr(sorted((rule.defaults or {}).items())), append_unknown)
        if key not in built:
            built[key] = compile_builder(rule, append_unknown)
        return built[key]

    Rule._compile_builder = remembered


_remember_url_builders()

# Console and auditor passwords: Werkzeug's default scrypt work factor costs about 0.3 s per account made and
# signed in, and the tests make hundreds. They hash with a small one instead (test-only; a hash names its own
# parameters, so checking is unchanged); the unknown-account hash, made at import, keeps the default.
passwords.generate_password_hash = functools.partial(passwords.generate_password_hash, method="scrypt:1024:8:1")


def make_app(database_url, **overrides):
    # The test client's requests name host "localhost"; signed links come from CONSENT_PUBLIC_URL alone.
    # Checkpoints go to no file (never instance/checkpoints.jsonl) unless a test names one (`app` does).
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test-secret",
                       "CONSENT_PUBLIC_URL": "http://localhost", "CONSENT_CHECKPOINT_FILE": "", **overrides})


def migrate(database_url):
    app = make_app(database_url)
    db.upgrade(app)
    db.dispose(app)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "consent.sqlite3"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = TemporaryCluster().start()
    cluster.execute("CREATE DATABASE consent_template")
    migrate(cluster.url("consent_template"))
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        path = tmp_path / "consent.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    cluster = request.getfixturevalue("postgres_cluster")
    name = f"test_{next(_database_numbers)}"
    cluster.execute(f"CREATE DATABASE {name} TEMPLATE consent_template")
    return cluster.url(name)


def load_site_config(name="shop", **changes):
    """tests/data/<name>.yaml as a dict, with `changes`: a fresh copy each time, parsed once (every `app` needs one,
    and PyYAML's pure-Python parser costs a quarter of that fixture)."""
    if name not in _parsed_configs:
        _parsed_configs[name] = yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))
    return {**copy.deepcopy(_parsed_configs[name]), **changes}


_parsed_configs = {}


def import_site(app, config):
    """Import a site config (a dict in the YAML shape) the way `flask consent site import` does."""
    with app.app_context(), db.write_transaction() as session:
        configs.import_site(session, configs.validate_config(config))


def set_site_lanes(app, count, site_id="shop"):
    """Split a site's log into `count` lanes from its next decision on (consent/ledger/lanes.py). A Core update,
    which the ORM's listener does not see: the site's revision is raised with it, so that every worker reads the
    site again (consent/ledger/site_facts.py)."""
    with app.app_context(), db.write_transaction() as session:
        session.execute(update(Site).where(Site.id == site_id).values(lanes=count, revision=Site.revision + 1))


def visitor_credential(number):
    """A visitor's credential (their browser's secret), a different one for each number."""
    return f"visitor-{number:04d}-credential-0123456789"


def credentials_in_lane(app, lane, count, lane_count, site_id="shop"):
    """`count` visitor credentials whose anonymous decisions go to `lane` of a log of `lane_count` lanes."""
    with app.app_context():
        in_lane = (credential for credential in map(visitor_credential, itertools.count())
                   if lanes.visitor_lane(identity.visitor_ref(site_id, credential), lane_count) == lane)
        return list(itertools.islice(in_lane, count))


@pytest.fixture
def app(database_url, tmp_path):
    # Each test signs with keys of its own, kept in its own temp dir (never in instance/keys), and
    # appends the checkpoints it signs to a file of its own.
    app = make_app(database_url, CONSENT_KEY_DIR=str(tmp_path / "keys"),
                   CONSENT_CHECKPOINT_FILE=str(tmp_path / "checkpoints.jsonl"))
    import_site(app, load_site_config())
    yield app
    db.dispose(app)


@pytest.fixture
def client(app):
    return app.test_client()


class ConsentActions:
    """What a widget does against the API, with overridable parts for hostile variations."""

    def __init__(self, client, app):
        self.client = client
        self.app = app

    def body(self, **changes):
        body = {
            "site_id": "shop",
            "choices": {"necessary": True, "analytics": False, "advertising": False, "marketing_sms": False,
                        "personalized_recommendation": False, "cross_border_transfer": False},
            "policy_version": "v1",
            "language": "zh-CN",
            "signals": {"dnt": False, "gpc": False},
        }
        body.update(changes)
        return body

    def post(self, body=None, origin=SHOP_ORIGIN, headers=None, **changes):
        headers = {"Origin": origin, **(headers or {})} if origin else dict(headers or {})
        return self.client.post(
            "/api/v1/consents", json=body if body is not None else self.body(**changes), headers=headers
        )

    def user(self, subject_id, site_id="shop", expires_in=3600):
        """Body fields naming the site's user `subject_id`, proven by a token its backend would make."""
        return {"subject_id": subject_id, "subject_token": subject_token(self.app, subject_id, site_id, expires_in)}

    def stored_events(self):
        with self.app.app_context():
            session = db.get_session()
            query = select(ConsentEvent).options(joinedload(ConsentEvent.receipt))
            return session.scalars(query.order_by(ConsentEvent.site_id, ConsentEvent.lane, ConsentEvent.seq)).all()

    def stored_receipts(self):
        with self.app.app_context():
            return db.get_session().scalars(select(Receipt)).all()


def subject_token(app, subject_id, site_id="shop", expires_in=3600, now=None):
    """A subject token made with the site's current subject secret, as the site's backend makes one."""
    from consent.subjects import identity, tokens

    with app.app_context():
        secret = identity.current_secret(db.get_session(), site_id)
        expires = int((now or time.time()) + expires_in)
        return tokens.make_token(secret.secret, secret.kid, site_id, subject_id, expires)


@pytest.fixture
def consent(client, app):
    return ConsentActions(client, app)


class ShiftedClock:
    """The service's clock (consent/clock.py) as a test moves it: running but shifted, or stopped at a time."""

    def __init__(self, monkeypatch):
        self.offset, self.stopped_at = timedelta(0), None
        monkeypatch.setattr(service_clock, "now", self.now)

    def now(self):
        return (self.stopped_at or datetime.now(UTC)) + self.offset

    def shift(self, delta=None, **parts):
        """Move the service's time `delta` (or timedelta(**parts)) on from where it is."""
        self.offset += delta if delta is not None else timedelta(**parts)

    def set(self, moment):
        """Stop the service's time at `moment` (an aware datetime), to the microsecond, until moved again."""
        self.offset, self.stopped_at = timedelta(0), moment


@pytest.fixture
def clock(monkeypatch):
    """The service's clock, for tests of what the date decides: `clock.shift(days=400)` moves it on,
    `clock.set(datetime(2025, 1, 31, tzinfo=UTC))` stops it there."""
    return ShiftedClock(monkeypatch)


def create_api_key(app, site_id="shop", label="test"):
    """A fresh API key for `site_id`, as `flask consent apikey create` makes one; returns the token."""
    from consent.accounts import api_keys

    with app.app_context(), db.write_transaction() as session:
        return api_keys.create_key(session, site_id, label)[1]


@pytest.fixture
def shop_key(app):
    return create_api_key(app)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


class _FormReader(HTMLParser):
    """What a browser would post for each <form> of a page, untouched: [(name, value), ...] per form."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._select, self._textarea, self._options = [], None, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "fields": []})
        elif not self.forms or "disabled" in attrs:
            return
        elif tag == "input" and attrs.get("name") and attrs.get("type") not in ("submit", "button", "reset"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.forms[-1]["fields"].append((attrs["name"], attrs.get("value", "on")))
        elif tag == "textarea":
            self._textarea = [attrs.get("name"), ""]
        elif tag == "select":
            self._select, self._options = attrs, []
        elif tag == "option" and self._select is not None:
            self._options.append((attrs.get("value", ""), "selected" in attrs))

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea is not None:
            text = self._textarea[1].replace("\r\n", "\n").removeprefix("\n")  # as HTML parsers read it
            self.forms[-1]["fields"].append((self._textarea[0], text))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and self._options and "multiple" not in self._select:
                chosen = [self._options[0][0]]
            self.forms[-1]["fields"] += [(self._select["name"], value) for value in chosen]
            self._select = None


def form_fields(html):
    """The fields of the page's first form that posts to itself (no action), as a browser would send them:
    {name: value}, or {name: [values]} for a name sent more than once (ticked checkboxes of one list)."""
    reader = _FormReader()
    reader.feed(html)
    fields = {}
    for name, value in next(form for form in reader.forms if form["action"] is None)["fields"]:
        if name in fields:
            fields[name] = [*fields[name], value] if isinstance(fields[name], list) else [fields[name], value]
        else:
            fields[name] = value
    return fields


def csrf_token(html):
    """The CSRF token of the first form on a page (Flask-WTF, with or without a field prefix)."""
    return re.search(r'name="(?:[a-z]+-)?csrf_token" type="hidden" value="([^"]+)"', html).group(1)


ROOMY_LIMITS = {
    "CONSENT_RATELIMIT_CLIENT": "100000 per minute",
    "CONSENT_RATELIMIT_SITE": "100000 per minute",
    "CONSENT_RATELIMIT_MARKS_CLIENT": "100000 per minute",
    "CONSENT_RATELIMIT_MARKS_SITE": "100000 per minute",
    "CONSENT_RATELIMIT_READS": "100000 per minute",
    "CONSENT_RATELIMIT_SIGN_IN": "100000 per minute",
}


@pytest.fixture
def app_with(database_url):
    """Build apps with other settings (rate limits roomy unless given) and the `shop` site imported."""
    apps = []

    def build(**overrides):
        app = make_app(database_url, **{**ROOMY_LIMITS, **overrides})
        import_site(app, load_site_config())
        apps.append(app)
        return app

    yield build
    for app in apps:
        db.dispose(app)


# --- The admin console, signed in ----------------------------------------------------------

PASSWORD = "correct horse battery"


class OperatorActions:
    """What an operator does in the console, through the real forms (CSRF token included)."""

    def __init__(self, client):
        self.client = client

    def login(self, username="operator", password=PASSWORD):
        page = self.client.get("/admin/login").get_data(as_text=True)
        return self.client.post("/admin/login", data={"csrf_token": csrf_token(page), "username": username,
                                                      "password": password})

    def submit(self, path, fields, form_path=None):
        page = self.client.get(form_path or path).get_data(as_text=True)
        token = csrf_token(page)
        tokens = {name: token for name in re.findall(r'name="((?:[a-z]+-)?csrf_token)"', page)}
        return self.client.post(path, data={**tokens, **fields})


@pytest.fixture
def operator(app, client):
    with app.app_context(), db.write_transaction() as session:
        operators.set_password(session, "operator", PASSWORD)
    actions = OperatorActions(client)
    assert actions.login().status_code == 302
    return actions
