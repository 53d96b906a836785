"""What a scan may reach (issue 16's guard rails), without a browser: pages of the site's allowed origins only,
public addresses only (the filtering proxy every request of the browser goes through), one scan per site at
a time, page limits; and the command line's refusals as sentences."""
import socket
import threading

import pytest

from consent.scanner import guard, scans
from consent.storage.db import get_session, write_transaction
from consent.storage.operations import Scan
from tests.browser.conftest import BackgroundServer, HostSite
from tests.conftest import STORAGE_AGNOSTIC

SHOP = ["https://shop.example"]


def stored_scans(app):
    with app.app_context():
        return [(scan.site_id, scan.status, scan.urls) for scan in get_session().query(Scan).order_by(Scan.id)]


def refusal(call):
    with pytest.raises(guard.ScanRefused) as refused:
        call()
    return str(refused.value)


@STORAGE_AGNOSTIC
def test_a_page_outside_the_allowed_origins_is_refused_with_a_clear_message(app):
    with app.app_context():
        message = refusal(lambda: scans.queue("shop", ["https://evil.example/"], 5, False, "test"))
    assert message == ("https://evil.example/ is not on one of the site's allowed origins (https://shop.example): "
                       "a scan visits the site's own pages only.")
    assert stored_scans(app) == []


@pytest.mark.parametrize("url", [
    "http://shop.example/",  # another scheme is another origin
    "https://shop.example:8443/",
    "https://shop.example.evil.example/",
    "https://evil.example/?https://shop.example",
    "javascript:alert(1)//https://shop.example",
    "file:///etc/passwd",
    "",
    "https://shop.example@127.0.0.1/",
    "https://user:pass@shop.example/",
    "https://shop.example:99999/",
])
def test_anything_but_a_page_of_an_allowed_origin_is_refused(url):
    with pytest.raises(guard.ScanRefused):
        guard.check_pages([url], SHOP)


def test_pages_of_the_allowed_origins_pass_whatever_their_spelling():
    guard.check_pages(["https://SHOP.example/a?b#c", "https://shop.example:443/"], SHOP)


@pytest.mark.parametrize("host, kind", [
    ("127.0.0.1", "a loopback address"), ("localhost", "a loopback address"), ("10.1.2.3", "a private address"),
    ("169.254.169.254", "a link-local address"), ("2130706433", "a loopback address"), ("::1", "a loopback address"),
])
def test_private_and_loopback_addresses_are_refused(host, kind):
    message = refusal(lambda: guard.check_address(host, 80))
    assert message.endswith(f", {kind}: a scan reaches public addresses only.")


def test_only_the_networks_allowed_for_development_are_let_through():
    allowed = guard.allowed_networks("127.0.0.1/32, ::1")
    assert guard.check_address("127.0.0.1", 80, allowed) == ["127.0.0.1"]
    assert refusal(lambda: guard.check_address("10.1.2.3", 80, allowed)).startswith("10.1.2.3 resolves to 10.1.2.3")
    with pytest.raises(RuntimeError, match="CONSENT_SCAN_ALLOW_PRIVATE"):
        guard.allowed_networks("127.0.0.1/99")


def test_a_site_has_one_scan_at_a_time(app):
    """On both backends: the database's partial unique index is what refuses the second."""
    with app.app_context():
        first = scans.queue("shop", ["https://shop.example/"], 5, False, "test")
        message = refusal(lambda: scans.queue("shop", ["https://shop.example/b"], 5, False, "test"))
        assert message == "A scan of this site is already queued or running: wait for it to finish."
        with write_transaction() as session:
            session.get(Scan, first).status = "done"
        scans.queue("shop", ["https://shop.example/c"], 5, False, "test")  # once done, the next may start
    assert [status for _, status, _ in stored_scans(app)] == ["done", "queued"]


@STORAGE_AGNOSTIC
@pytest.mark.parametrize("urls, pages, expected", [
    ([], 5, "Name at least one page to scan."),
    (["  "], 5, "Name at least one page to scan."),
    (["https://shop.example/"], 0, "A scan visits 1 to 20 pages."),
    (["https://shop.example/"], 21, "A scan visits 1 to 20 pages."),
    ([f"https://shop.example/{n}" for n in range(21)], 5, "A scan visits 1 to 20 pages."),
])
def test_page_limits(app, urls, pages, expected):
    with app.app_context():
        assert refusal(lambda: scans.queue("shop", urls, pages, False, "test")) == expected
    assert stored_scans(app) == []


def test_a_scan_a_stopped_worker_left_running_fails_and_the_next_one_runs(app, clock):
    with app.app_context():
        stuck = scans.queue("shop", ["https://shop.example/"], 5, False, "test")
        assert scans._claim(stuck)
        clock.shift(seconds=2 * app.config["CONSENT_SCAN_MAX_SECONDS"] + 1)
        assert scans.run_next() is None  # nothing queued: no browser needed
        scan = get_session().get(Scan, stuck)
        assert (scan.status, scan.error) == ("failed", "The scan worker stopped before the scan finished.")


@STORAGE_AGNOSTIC
def test_a_scan_whose_page_turned_private_fails_with_the_reason_before_any_browser(app):
    """The start pages are resolved again when the scan runs: a DNS answer may have changed since it was queued."""
    app.config["CONSENT_SCAN_ALLOW_PRIVATE"] = ""
    with app.app_context():
        from tests.conftest import import_site, load_site_config
        import_site(app, load_site_config(allowed_origins=["http://127.0.0.1:9"]))
        scan = scans.run(scans.queue("shop", ["http://127.0.0.1:9/"], 5, False, "test"), browser=object())
        assert (scan.status, scan.error) == (
            "failed", "127.0.0.1 resolves to 127.0.0.1, a loopback address: a scan reaches public addresses only.")


def through_proxy(proxy, request):
    with socket.create_connection(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1])), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def test_the_proxy_forwards_to_allowed_addresses_and_refuses_the_rest():
    site = HostSite()
    site.page("/", "hello")
    with BackgroundServer(site) as server, guard.FilteringProxy(guard.allowed_networks("127.0.0.1/32")) as proxy:
        port = server.url.rsplit(":", 1)[1]
        answer = through_proxy(proxy, f"GET {server.url}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                      "Proxy-Connection: keep-alive\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
        tunnel = through_proxy(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n"
                                      f"Host: x\r\nConnection: close\r\n\r\n".encode())
        assert tunnel.startswith(b"HTTP/1.1 200 Connection Established") and tunnel.endswith(b"hello")
        for hostile in (b"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\n\r\n",
                        b"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n", b"GET http://[::1]:22/ HTTP/1.1\r\n\r\n"):
            assert through_proxy(proxy, hostile).startswith(b"HTTP/1.1 403 Forbidden")
        for malformed in (b"GET /relative HTTP/1.1\r\n\r\n", b"GET ftp://x/ HTTP/1.1\r\n\r\n", b"nonsense\r\n\r\n",
                          b"GET http://user@127.0.0.1/ HTTP/1.1\r\n\r\n", b"CONNECT :443 HTTP/1.1\r\n\r\n"):
            assert through_proxy(proxy, malformed).startswith((b"HTTP/1.1 400", b"HTTP/1.1 403"))
        assert through_proxy(proxy, b"G" * 70_000) == b""  # a head too large is dropped
    assert [host for host, _ in proxy.refused] == ["169.254.169.254", "10.0.0.1", "::1"]


def scan_command(app, *args):
    """`flask consent scan ...` in a thread of its own: Playwright's sync API wants one per thread."""
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(
        result=app.test_cli_runner().invoke(args=["consent", "scan", *args])))
    thread.start()
    thread.join(60)
    return outcome["result"]


@STORAGE_AGNOSTIC
def test_the_command_line_refuses_in_sentences(app):
    off = scan_command(app, "shop", "https://evil.example/")
    assert off.exit_code == 1 and "https://evil.example/ is not on one of the site's allowed origins" in off.output
    assert scan_command(app, "nosuch", "https://shop.example/").output.strip() == (
        "Error: No site 'nosuch' is configured here.")
    usage = scan_command(app, "shop")
    assert usage.exit_code == 2 and "Give a site id and at least one URL, or --worker." in usage.output
    assert stored_scans(app) == []
