"""Webhook URLs cannot reach inside our network (SSRF): refused when registered and again at each delivery."""
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from consent.errors import InvalidRequest
from consent.sites import webhook_targets, webhooks
from consent.storage import db
from consent.storage.operations import SiteWebhook, WebhookDelivery
from tests.browser.conftest import BackgroundServer
from tests.conftest import STORAGE_AGNOSTIC, import_site, load_site_config

pytestmark = STORAGE_AGNOSTIC  # validation and static files: tests/conftest.py

PUBLIC_ADDRESS = "93.184.216.34"

# (hostile URL, what the refusal says). Every one would reach this machine, its network or the
# cloud metadata service, or is no http URL at all.
HOSTILE_URLS = [
    ("http://127.0.0.1/hook", "must start with https://"),
    ("http://[::1]/hook", "must start with https://"),
    ("http://169.254.169.254/latest/meta-data", "must start with https://"),
    ("http://10.0.0.1/", "must start with https://"),
    ("http://2130706433/", "must start with https://"),
    ("https://127.0.0.1/hook", "a loopback address"),
    ("https://[::1]/hook", "a loopback address"),
    ("https://169.254.169.254/latest/meta-data", "a link-local address"),
    ("https://[fe80::1]/hook", "a link-local address"),
    ("https://10.0.0.1/", "a private address"),
    ("https://172.16.5.4/", "a private address"),
    ("https://192.168.0.1/", "a private address"),
    ("https://[fd12:3456::1]/", "a unique-local address"),
    ("https://224.0.0.251/", "a multicast address"),
    ("https://0.0.0.0/", "an unspecified address"),
    ("https://[::]/", "an unspecified address"),
    ("https://240.0.0.1/", "a reserved address"),
    ("https://100.64.0.1/", "a non-public address"),
    ("https://localhost/hook", "always names this machine"),
    ("https://LOCALHOST./hook", "always names this machine"),
    ("https://api.localhost/hook", "always names this machine"),
    ("https://2130706433/", "resolves to 127.0.0.1, a loopback address"),  # decimal
    ("https://0177.0.0.1/", "resolves to 127.0.0.1, a loopback address"),  # octal
    ("https://0x7f000001/", "resolves to 127.0.0.1, a loopback address"),  # hexadecimal
    ("https://[::ffff:127.0.0.1]/", "a loopback address"),  # IPv4-mapped
    ("https://[::ffff:a9fe:a9fe]/", "a link-local address"),  # 169.254.169.254, mapped
    ("https://[64:ff9b::7f00:1]/", "a loopback address"),  # NAT64
    ("https://[2002:7f00:1::]/", "a loopback address"),  # 6to4
    ("https://example.com@127.0.0.1/", "user name or password"),
    ("https://user:password@hooks.example/", "user name or password"),
    ("https://hooks.example\\@127.0.0.1/", "user name or password"),
    ("file:///etc/passwd", "must start with https://"),
    ("gopher://127.0.0.1:25/", "must start with https://"),
    ("ftp://hooks.example/hook", "must start with https://"),
    ("javascript:alert(1)", "must start with https://"),
    ("not a url", "must start with https://"),
    ("https://hooks.example:99999/", "no valid host name or port"),
    ("https:///hook", "no valid host name or port"),
    ("https://hooks.example/a b", "no valid host name or port"),
    ("https://hooks.exa%6dple/", "no valid host name or port"),
]


def resolving(monkeypatch, *addresses):
    """Make every host name resolve to `addresses` (the DNS answer an attacker controls)."""

    def getaddrinfo(host, port, *args, **kwargs):
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in address], socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def connections(monkeypatch):
    """Every outgoing connection attempted (none succeeds): proof of whether a request was sent."""
    attempted = []

    def create_connection(address, *args, **kwargs):
        attempted.append(address)
        raise ConnectionRefusedError("no network in this test")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return attempted


@pytest.mark.parametrize(("url", "reason"), HOSTILE_URLS)
def test_hostile_urls_are_refused(url, reason):
    with pytest.raises(webhook_targets.TargetRefused) as refused:
        webhook_targets.check_registration(url)
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("url", "allow_private"),
    [("https://hooks.example/consent", False),  # does not resolve now: checked again at each delivery
     ("https://93.184.216.34:8443/consent?site=shop", False),
     ("http://127.0.0.1:8000/hook", True), ("https://localhost/hook", True), ("http://[::1]/hook", True)],
)
def test_public_or_explicitly_allowed_urls_are_accepted(url, allow_private):
    assert webhook_targets.check_registration(url, allow_private).host


@pytest.mark.parametrize("url", ["file:///etc/passwd", "https://a@127.0.0.1/", "gopher://127.0.0.1/", "http:///x"])
def test_allowing_private_targets_still_refuses_what_is_no_http_url(url):
    with pytest.raises(webhook_targets.TargetRefused):
        webhook_targets.check_registration(url, allow_private=True)


def test_a_name_with_any_inside_address_is_refused(monkeypatch):
    resolving(monkeypatch, PUBLIC_ADDRESS, "10.1.2.3")
    with pytest.raises(webhook_targets.TargetRefused, match="hooks.example resolves to 10.1.2.3, a private address"):
        webhook_targets.check_registration("https://hooks.example/consent")


@pytest.mark.parametrize(
    ("url", "reason"),
    [("http://169.254.169.254/latest/meta-data", "must start with https://"), ("https://[::1]/", "a loopback address"),
     ("https://2130706433/", "a loopback address"), ("https://example.com@127.0.0.1/", "user name or password"),
     ("https://localhost/hook", "always names this machine"), ("https://10.0.0.1/", "a private address")],
)
def test_site_import_refuses_hostile_webhook_and_stores_nothing(app, url, reason):
    """The YAML path (`flask consent site import`, and every console save beneath the form) checks too."""
    with pytest.raises(InvalidRequest) as refused:
        import_site(app, load_site_config(webhook={"url": url}))
    assert reason in refused.value.errors["webhook"]["url"][0]
    with app.app_context():
        assert db.get_session().get(SiteWebhook, "shop") is None


def stored_webhook(app, url):
    """A site whose stored webhook URL is `url`, as if registered before these checks (or DNS changed since)."""
    import_site(app, load_site_config(webhook={"url": "https://hooks.example/consent"}))
    with app.app_context(), db.write_transaction() as session:
        session.get(SiteWebhook, "shop").url = url


def deliver_once(app):
    with app.app_context():
        webhooks.deliver_due(datetime.now(UTC) + timedelta(seconds=1))
        return db.get_session().scalars(select(WebhookDelivery)).one()


@pytest.mark.parametrize(("url", "reason"), HOSTILE_URLS)
def test_delivery_to_hostile_url_fails_at_once_and_sends_nothing(app, consent, connections, url, reason):
    stored_webhook(app, url)
    assert consent.post().status_code == 201
    delivery = deliver_once(app)
    assert (delivery.status, delivery.attempts) == ("failed", 1)  # no retries: the answer would not change
    assert delivery.log[0].status_code is None and delivery.log[0].error.startswith("Not sent: ")
    assert reason in delivery.log[0].error
    assert connections == []


def test_dns_changed_after_registration_is_refused_at_delivery(app, consent, connections, monkeypatch):
    resolving(monkeypatch, PUBLIC_ADDRESS)
    import_site(app, load_site_config(webhook={"url": "https://hooks.example/consent"}))
    consent.post()
    resolving(monkeypatch, "127.0.0.1")  # rebinding: the same name now points inside
    delivery = deliver_once(app)
    assert delivery.status == "failed" and "hooks.example resolves to 127.0.0.1" in delivery.log[0].error
    assert connections == []


def test_delivery_connects_to_the_checked_address_never_to_the_name(app, consent, connections, monkeypatch):
    resolving(monkeypatch, PUBLIC_ADDRESS)
    import_site(app, load_site_config(webhook={"url": "https://hooks.example:8443/consent"}))
    consent.post()
    delivery = deliver_once(app)
    assert connections == [(PUBLIC_ADDRESS, 8443)]
    assert delivery.status == "pending" and "no network in this test" in delivery.log[0].error  # retried later


class RecordingReceiver:
    """Answers every request with a redirect to itself elsewhere, keeping the Host header of each."""

    def __init__(self):
        self.hosts = []

    @Request.application
    def __call__(self, request):
        self.hosts.append(request.host)
        return Response("", status=302, headers={"Location": "/elsewhere"})


def test_host_header_is_kept_and_redirects_are_not_followed(app, consent):
    app.config["CONSENT_WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver listens on loopback, over http
    receiver = RecordingReceiver()
    with BackgroundServer(receiver) as server:
        port = server.server.server_port
        import_site(app, load_site_config(webhook={"url": f"http://localhost:{port}/hook"}))
        consent.post()
        delivery = deliver_once(app)
    assert receiver.hosts == [f"localhost:{port}"]  # one request, none to the redirect's target
    assert delivery.status == "pending" and delivery.log[0].status_code == 302
