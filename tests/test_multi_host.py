"""Two hosts, one PostgreSQL, one Redis (issue 19): the README's "Scale-out" deployment, run rather than described.

Two gunicorn servers stand for two hosts: each has an instance folder of its own (CONSENT_INSTANCE_PATH, so each
appends the checkpoints it signs to its own file), and they share what the README says hosts share: the
database, SECRET_KEY, the key directory (CONSENT_KEY_DIR) and the rate-limit store (RATELIMIT_STORAGE_URI=redis://).
Host A runs sync workers, host B gthread ones (group commit), so both ways of writing extend one site's chain.
Decisions come from threads posting to both hosts at once, each from an address of its own (X-Forwarded-For
through CONSENT_PROXY_HOPS=1, as behind the README's load balancer), so only the rate-limit test shares a client.

Each test shows one promise of that shape; the servers are started once for the module (they take seconds). The
last two check everything the module wrote: every 201 stored, and the chain and its checkpoints intact.
"""
import base64
import http.client
import ipaddress
import itertools
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from consent import config
from consent.ledger.checkpoints import site_checkpoints, verify_log
from consent.ledger.outside_copies import read_published
from consent.proof.verify import verify_receipt
from consent.storage import db
from consent.storage.models import ConsentEvent, Receipt
from consent.storage.operations import WebhookDelivery
from tests.conftest import (
    BACKENDS,
    PASSWORD,
    ROOMY_LIMITS,
    SHOP_ORIGIN,
    ConsentActions,
    csrf_token,
    form_fields,
    import_site,
    load_site_config,
    make_app,
)
from tests.redis_server import TemporaryRedis
from tests.server import PROJECT_ROOT, SECRET_KEY, GunicornServer

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS,
                                reason="CONSENT_TEST_BACKENDS leaves out PostgreSQL, which several hosts need")

CLIENT_LIMIT = 5  # decisions per client address: small, so one client's burst meets it
CHECKPOINT_EVERY = 10  # small, so the module's decisions sign a few dozen checkpoints
RECHECK_SECONDS = config.defaults()["CONSENT_KEY_RECHECK_SECONDS"]  # the default, named for the test that times it
LOAD_THREADS = 4  # posting at once, half of them at each host at any moment
LOAD_PAUSE = 0.02  # seconds each takes between its decisions: load, yet room for the rest of the test on two cores
DEADLINE = 30  # seconds any wait below may take before the test fails
_addresses = itertools.count(1)


def fresh_address():
    """A client address no other request of the module used: its own rate-limit bucket."""
    return str(ipaddress.ip_address("10.0.0.0") + next(_addresses))


@dataclass
class Answer:
    sent_at: float  # time.monotonic() just before sending
    host: str
    status: int | None  # None: no answer (the connection failed)
    body: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)

    @property
    def kid(self):
        """The key id the receipt's JWS names in its header."""
        header = self.body["jws"].split(".")[0]
        return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]

    @property
    def problem(self):
        return self.body.get("type", "").rsplit("/", 1)[-1]


class Hosts:
    """The two servers, a reader of their database, and every decision either acknowledged (201)."""

    def __init__(self, a, b, reader, root):
        self.a, self.b, self.reader, self.root = a, b, reader, root
        self.acknowledged = {}  # receipt_id -> the host that answered 201
        self.unanswered = []  # answers that never came: none expected
        self.lock = threading.Lock()

    @property
    def both(self):
        return (self.a, self.b)

    def request(self, host, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=DEADLINE)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def decide(self, host, policy_version="v1", address=None):
        """POST one decision to `host` as the widget would, from `address` (default: one of its own)."""
        body = json.dumps(ConsentActions(None, None).body(policy_version=policy_version))
        headers = {"Content-Type": "application/json", "Origin": SHOP_ORIGIN,
                   "X-Forwarded-For": address or fresh_address()}
        sent_at = time.monotonic()
        try:
            status, response_headers, text = self.request(host, "POST", "/api/v1/consents", body, headers)
        except (OSError, http.client.HTTPException):
            answer = Answer(sent_at, host.name, None)
            with self.lock:
                self.unanswered.append(answer)
            return answer
        answer = Answer(sent_at, host.name, status, json.loads(text), dict(response_headers))
        if status == 201:
            with self.lock:
                self.acknowledged[answer.body["receipt_id"]] = host.name
        return answer

    def decide_at_once(self, hosts_in_turn, count, **options):
        """`count` decisions posted concurrently, the n-th to hosts_in_turn[n % len]; their answers in that order."""
        with ThreadPoolExecutor(LOAD_THREADS) as pool:
            return list(pool.map(lambda n: self.decide(hosts_in_turn[n % len(hosts_in_turn)], **options),
                                 range(count)))

    def get_json(self, host, path):
        status, _headers, text = self.request(host, "GET", path)
        assert status == 200, (host.name, path, status, text[:300])
        return json.loads(text)

    def policy_version(self, host, view="full"):
        return self.get_json(host, f"/api/v1/sites/shop/config?view={view}")["policy"]["version"]

    def flask(self, host, *args):
        """`flask consent ARGS` on `host`: its environment (database, keys, instance folder), as an operator runs it."""
        run = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "consent", *args], cwd=PROJECT_ROOT,
                             env=host.env, capture_output=True, text=True, timeout=DEADLINE * 2)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    def stored_events(self):
        with self.reader.app_context():
            return db.get_session().scalar(select(func.count()).where(ConsentEvent.site_id == "shop"))

    def checkpoint_file(self, host):
        return Path(host.env["CONSENT_INSTANCE_PATH"]) / "checkpoints.jsonl"


class Load:
    """Threads posting decisions to both hosts at once, each decision from an address of its own, until the
    `with` block ends. A decision refused for a stale policy version is asked again under the current one, as
    the widget does."""

    def __init__(self, hosts):
        self.hosts = hosts
        self.answers = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.post, args=(n,)) for n in range(LOAD_THREADS)]

    def post(self, first):
        version = self.hosts.policy_version(self.hosts.a)
        for turn in itertools.count(first):
            if self.stopping.wait(LOAD_PAUSE):
                return
            host = self.hosts.both[turn % 2]
            answer = self.hosts.decide(host, version)
            with self.lock:
                self.answers.append(answer)
            if answer.status is None:
                return
            if answer.problem == "stale-policy-version":
                version = self.hosts.policy_version(host)

    def wait_until(self, enough, what):
        """Poll the answers so far until `enough(answers)`, within the deadline."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with self.lock:
                if enough(list(self.answers)):
                    return
            if not any(thread.is_alive() for thread in self.threads):
                break
            time.sleep(0.02)
        pytest.fail(f"the load did not bring {what} within {DEADLINE} s")

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        self.wait_until(lambda answers: {answer.host for answer in answers} == {"A", "B"}, "answers from both hosts")
        return self

    def __exit__(self, *_exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(DEADLINE)


class Browser:
    """Someone at the console of one host: the session cookie it was given, sent back as it is, no redirect
    followed. `on(other)` is the same cookie at another host, where the load balancer sends the next request."""

    def __init__(self, hosts, host, cookie=None):
        self.hosts, self.host, self.cookie = hosts, host, cookie

    def on(self, host):
        return Browser(self.hosts, host, self.cookie)

    def open(self, path, fields=None):
        headers = {"Cookie": f"session={self.cookie}"} if self.cookie else {}
        body = None
        if fields is not None:
            body = urlencode(fields, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, response_headers, text = self.hosts.request(self.host, "POST" if fields is not None else "GET", path,
                                                            body, headers)
        for header in response_headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            if "session" in cookie:
                self.cookie = cookie["session"].value or None
        return status, response_headers.get("Location", ""), text.decode()

    def sign_in(self):
        _status, _location, page = self.open("/admin/login")
        fields = {"csrf_token": csrf_token(page), "username": "operator", "password": PASSWORD}
        status, location, _page = self.open("/admin/login", fields)
        assert (status, location) == (302, "/admin/"), (status, location)
        return self

    def sign_out(self):
        _status, _location, page = self.open("/admin/login")  # its form carries a valid token
        return self.open("/admin/logout", {"csrf_token": csrf_token(page)})


@pytest.fixture(scope="module")
def hosts(postgres_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("multi-host")
    postgres_cluster.execute("CREATE DATABASE multi_host TEMPLATE consent_template")
    database_url = postgres_cluster.url("multi_host")
    keys = root / "keys"  # the one directory every host mounts
    # Once, before any host serves (README, "Scale-out"): the site, with a webhook for checkpoints to be queued
    # to (no delivery loop runs), a console user, and the first signing key.
    setup = make_app(database_url, SECRET_KEY=SECRET_KEY, CONSENT_KEY_DIR=str(keys))
    import_site(setup, load_site_config(webhook={"url": "https://shop.example/hooks"}))
    for command, answers in ((["admin", "create", "operator"], f"{PASSWORD}\n" * 2), (["keys", "rotate"], None)):
        result = setup.test_cli_runner().invoke(args=["consent", *command], input=answers)
        assert result.exit_code == 0, result.output
    db.dispose(setup)
    redis_server = TemporaryRedis().start()
    shared = {**ROOMY_LIMITS, "CONSENT_RATELIMIT_CLIENT": f"{CLIENT_LIMIT} per hour",
              "RATELIMIT_STORAGE_URI": redis_server.url, "CONSENT_PROXY_HOPS": 1, "CONSENT_KEY_DIR": keys,
              "CONSENT_KEY_RECHECK_SECONDS": RECHECK_SECONDS, "CONSENT_CHECKPOINT_EVERY": CHECKPOINT_EVERY,
              "CONSENT_CHECKPOINT_INTERVAL_SECONDS": 0}  # checkpoints by count only: their counts are known
    a = GunicornServer(database_url, workers=2, threads=1, log_path=root / "a.log",
                       CONSENT_INSTANCE_PATH=root / "host-a", **shared)
    b = GunicornServer(database_url, workers=2, threads=4, log_path=root / "b.log",
                       CONSENT_INSTANCE_PATH=root / "host-b", **shared)
    a.name, b.name = "A", "B"
    reader = make_app(database_url, SECRET_KEY=SECRET_KEY, CONSENT_KEY_DIR=str(keys))
    try:
        with ThreadPoolExecutor(2) as pool:  # both start at once: each worker's start-up is a second of CPU
            list(pool.map(lambda server: server.start(timeout=DEADLINE * 2), (a, b)))
        yield Hosts(a, b, reader, root)
    finally:
        for server in (a, b):
            server.stop()
        db.dispose(reader)
        redis_server.remove()


def test_one_client_limit_counts_across_both_hosts(hosts):
    """One client's burst, half to each host, at once: exactly CLIENT_LIMIT stored in all. Were each host
    counting alone, each would have taken CLIENT_LIMIT (its half is larger than that)."""
    address = fresh_address()
    answers = hosts.decide_at_once(hosts.both, 3 * CLIENT_LIMIT + 1, address=address)
    assert sorted(Counter(answer.status for answer in answers).items()) == [(201, CLIENT_LIMIT),
                                                                            (429, 2 * CLIENT_LIMIT + 1)]
    for refused in (answer for answer in answers if answer.status == 429):
        assert int(refused.headers["Retry-After"]) > 0 and refused.body["status"] == 429
    assert hosts.decide(hosts.b).status == 201  # another address: a bucket of its own, on either host


def test_a_key_rotated_on_host_a_signs_on_host_b_within_the_recheck_time(hosts):
    """`keys rotate` on A while both hosts take decisions: every decision sent to either host once
    CONSENT_KEY_RECHECK_SECONDS have passed is signed with the new key, and every receipt, signed before,
    during or after, verifies with the published key set."""
    old_kid = hosts.decide(hosts.b).kid
    with Load(hosts) as load:
        printed = hosts.flask(hosts.a, "keys", "rotate")
        switched_by = time.monotonic() + RECHECK_SECONDS  # the rotation is committed: the CLI has exited
        new_kid = printed.split()[3]
        load.wait_until(lambda answers: {answer.host for answer in answers if answer.sent_at > switched_by}
                        == {"A", "B"}, "decisions to both hosts after the recheck time")
    late = [hosts.decide(host) for host in (hosts.b, hosts.b, hosts.a, hosts.b)]  # and some after the load
    answers = load.answers + late
    assert [answer for answer in answers if answer.status != 201] == []
    assert new_kid != old_kid and printed.startswith(f"new signing key {new_kid} ")
    assert {answer.kid for answer in answers if answer.sent_at >= switched_by} == {new_kid}
    assert {answer.kid for answer in answers} <= {old_kid, new_kid}
    jwks = hosts.get_json(hosts.b, "/.well-known/jwks.json")
    assert [key["kid"] for key in jwks["keys"]][:2] == [new_kid, old_kid]  # newest first, the retired one kept
    assert {verify_receipt(answer.body, jwks)[1] for answer in answers} <= {old_kid, new_kid}


def test_a_policy_published_through_host_a_is_served_by_host_b_at_once(hosts):
    """B's workers have the site's widget config (and what a decision needs of the site) cached when A's console
    publishes v2: B's very next answers serve v2 and refuse a decision made under v1, with no wait."""
    def served_by_b():
        with ThreadPoolExecutor(LOAD_THREADS) as pool:  # several at once, so each of B's workers answers some
            return set(pool.map(lambda n: hosts.policy_version(hosts.b, ("full", "banner")[n % 2]), range(8)))

    assert served_by_b() == {"v1"}
    with Load(hosts) as load:
        console = Browser(hosts, hosts.a).sign_in()
        _status, _location, page = console.open("/admin/sites/shop/publish")
        fields = {**form_fields(page), "version": "v2", "text_en": "Example Shop privacy policy, version 2."}
        status, location, _page = console.open("/admin/sites/shop/publish", fields)
        assert (status, location) == (303, "/admin/sites/shop?published=1")
        assert served_by_b() == {"v2"}
        refused, stored = hosts.decide(hosts.b, "v1"), hosts.decide(hosts.b, "v2")
        assert (refused.status, refused.problem, stored.status) == (409, "stale-policy-version", 201)
        load.wait_until(lambda answers: any(answer.status == 201 and answer.body["receipt"]["policyVersion"] == "v2"
                                            for answer in answers), "a decision under v2")
    assert {(answer.status, answer.problem) for answer in load.answers} <= {(201, ""), (409, "stale-policy-version")}


def test_a_session_signed_out_on_one_host_is_refused_on_the_other(hosts):
    """Signed in on A, the cookie opens the console on B too (one SECRET_KEY); signed out on A, that same
    cookie (a copy taken before) opens nothing on B from its next request on, while decisions keep flowing."""
    with Load(hosts):
        on_a = Browser(hosts, hosts.a).sign_in()
        copy_on_b = on_a.on(hosts.b)
        status, _location, page = copy_on_b.open("/admin/sites/shop")
        assert status == 200 and "publish" in page
        status, location, _page = on_a.sign_out()
        assert (status, location) == (302, "/admin/login")
        for browser in (copy_on_b, copy_on_b.on(hosts.a)):
            status, location, _page = browser.open("/admin/sites/shop")
            assert status == 302 and location.startswith("/admin/login"), (browser.host.name, status, location)


def test_each_checkpoint_is_published_once_not_once_per_host(hosts):
    """Whoever writes a site's CHECKPOINT_EVERY-th event signs the checkpoint, in that transaction, and only that
    host appends it to its file (in its own instance folder) and queues it for the webhook: across both hosts'
    files each checkpoint appears once, as in the database, in the public list and in the webhook's queue."""
    version = hosts.policy_version(hosts.a)
    answers = hosts.decide_at_once(hosts.both, 4 * CHECKPOINT_EVERY, policy_version=version)
    # Then one checkpoint certainly signed by each host: A writes up to the next multiple alone, then B.
    for host in (hosts.a, hosts.b):
        answers.append(hosts.decide(host, version))
        while hosts.stored_events() % CHECKPOINT_EVERY:
            answers.append(hosts.decide(host, version))
    assert [answer for answer in answers if answer.status != 201] == []
    with hosts.reader.app_context():
        session = db.get_session()
        events = session.scalar(select(func.count()).where(ConsentEvent.site_id == "shop"))
        signed = {(checkpoint.count, checkpoint.jws): checkpoint.id for checkpoint in site_checkpoints(session, "shop")}
        queued = Counter(session.scalars(select(WebhookDelivery.checkpoint_id)
                                         .where(WebhookDelivery.checkpoint_id.is_not(None))))
    assert sorted(count for count, _jws in signed) == list(range(CHECKPOINT_EVERY, events + 1, CHECKPOINT_EVERY))
    files = {host.name: [entry for _where, entry in read_published(hosts.checkpoint_file(host))]
             for host in hosts.both}
    assert all(files.values()), {name: len(entries) for name, entries in files.items()}  # both hosts signed some
    published = Counter((entry["count"], entry["jws"]) for entries in files.values() for entry in entries)
    assert published == Counter(dict.fromkeys(signed, 1))
    assert queued == Counter(dict.fromkeys(signed.values(), 1))
    listed = hosts.get_json(hosts.b, "/api/v1/sites/shop/checkpoints?limit=500")["checkpoints"]
    assert Counter((entry["count"], entry["jws"]) for entry in listed) == published


def test_every_acknowledged_decision_is_stored(hosts):
    """Every 201 either host sent in this module (and a burst of its own) is a stored event with its receipt,
    and nothing else is stored: no decision was lost or written twice between two hosts."""
    version = hosts.policy_version(hosts.b)
    assert {answer.status for answer in hosts.decide_at_once(hosts.both, 20, policy_version=version)} == {201}
    with hosts.reader.app_context():
        session = db.get_session()
        stored = set(session.scalars(select(Receipt.receipt_id).join(ConsentEvent, Receipt.event_id ==
                                                                        ConsentEvent.event_id)))
        events = session.scalar(select(func.count()).select_from(ConsentEvent))
    assert hosts.unanswered == []
    assert set(hosts.acknowledged) == stored and events == len(stored)
    assert set(hosts.acknowledged.values()) == {"A", "B"}


def test_the_chain_and_its_checkpoints_verify(hosts):
    """The chain both hosts extended at once verifies link by link, with every signed checkpoint, and `log verify`
    on host B finds every checkpoint of both hosts' files in the log, checked with the published key set."""
    version = hosts.policy_version(hosts.a)
    assert {answer.status for answer in hosts.decide_at_once(hosts.both, 2 * CHECKPOINT_EVERY,
                                                             policy_version=version)} == {201}
    with hosts.reader.app_context():
        log = verify_log(db.get_session(), "shop")  # verify_chain's walk, then every checkpoint against it
    assert log.intact, log
    assert log.events_checked == hosts.stored_events() and log.checkpoints_checked >= 2
    jwks = hosts.root / "jwks.json"
    jwks.write_text(json.dumps(hosts.get_json(hosts.a, "/.well-known/jwks.json")))
    files = [str(path) for path in map(hosts.checkpoint_file, hosts.both) if path.exists()]  # per host that signed any
    assert files
    output = hosts.flask(hosts.b, "log", "verify", *(f"--checkpoints={path}" for path in files), "--jwks", str(jwks))
    assert f"shop: intact, {log.events_checked} events, {log.checkpoints_checked} signed checkpoints match" in output
    for path in files:
        held = len(read_published(path))
        assert f"{path}: {held} of {held} outside checkpoints held by the log" in output


def test_a_site_of_four_lanes_written_by_both_hosts_at_once_verifies(hosts):
    """Raised to four lanes (through the database both hosts read, as `site import` does), the site's decisions
    from both hosts spread over the lanes; every 201 is stored, every lane's chain verifies with the checkpoints
    signed over all four heads, and `log verify` on host B finds both hosts' files of them in the log."""
    before = hosts.stored_events()
    import_site(hosts.reader, load_site_config(webhook={"url": "https://shop.example/hooks"}, lanes=4))
    version = hosts.policy_version(hosts.b)
    answers = hosts.decide_at_once(hosts.both, 6 * CHECKPOINT_EVERY, policy_version=version)
    assert {answer.status for answer in answers} == {201}
    with hosts.reader.app_context():
        session = db.get_session()
        lanes = dict(session.execute(select(ConsentEvent.lane, func.count()).where(ConsentEvent.site_id == "shop")
                                     .group_by(ConsentEvent.lane)).all())
        log = verify_log(session, "shop")
        several = [checkpoint for checkpoint in site_checkpoints(session, "shop") if checkpoint.lanes]
    assert len(lanes) == 4 and sum(lanes.values()) == before + len(answers)
    assert log.intact, log
    assert several and all(len(checkpoint.lanes) == 4 for checkpoint in several)
    jwks = hosts.root / "jwks.json"
    jwks.write_text(json.dumps(hosts.get_json(hosts.a, "/.well-known/jwks.json")))
    files = [str(path) for path in map(hosts.checkpoint_file, hosts.both) if path.exists()]
    output = hosts.flask(hosts.b, "log", "verify", *(f"--checkpoints={path}" for path in files), "--jwks", str(jwks))
    assert f"shop: intact, {log.events_checked} events in 4 lanes" in output, output
    for path in files:
        held = len(read_published(path))
        assert f"{path}: {held} of {held} outside checkpoints held by the log" in output
