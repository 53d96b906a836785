"""The scan's visits: each page seen by three fresh visitors in Chromium, driving the real widget.

1. "before": the page loads and settles; nobody chooses.
2. "reject": the visitor clicks "Reject all" on the banner (stating adulthood first on age-gated sites).
3. "accept": the visitor clicks "Accept all".

Each visitor is a new browser context (no cookies, no storage) whose only way out is the filtering proxy
(consent/scanner/guard.py). What it met is recorded once the page settled after the choice: every cookie,
every localStorage and sessionStorage key of every frame, and every request to another host with its
resource type and initiator.

A scan never records consent: an init script sets data-mode="device" on the widget's tag before the widget
runs (decisions stay on the device), and the visitor's context refuses any write to the consent service's
API besides, should a page load the widget some other way.
"""
import time
from urllib.parse import urldefrag, urlsplit

from playwright.sync_api import Error as PlaywrightError

from consent.scanner import guard
from consent.scanner.findings import VISITS, Cookie, Request, StorageKey, Visit

# Before any page script: the widget in device mode, and who writes document.cookie (the script's URL).
INIT_SCRIPT = r"""(() => {
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) {
      if (node.tagName === "SCRIPT" && node.hasAttribute("data-site")) node.setAttribute("data-mode", "device");
    }
  }).observe(document, { childList: true, subtree: true });
  const native = Object.getOwnPropertyDescriptor(Document.prototype, "cookie");
  Object.defineProperty(Document.prototype, "cookie", {
    configurable: true,
    get() { return native.get.call(this); },
    set(value) {
      const urls = (new Error().stack || "").match(/https?:\/\/[^\s)]+?(?=:\d+:\d+)/g) || [];
      try { window.__consentScanCookie(String(value).split("=")[0].trim(), urls[0] || location.href); } catch (e) {}
      native.set.call(this, value);
    },
  });
})();"""
SETTLE_MS = 5000  # at most this long for the network to go quiet after a load or a click
QUIET_MS = 200  # ... where quiet means no request in flight for this long
BANNER_MS = 5000  # at most this long for the banner to appear


class Visitor:
    """One fresh visitor of one page: a context, its page, and what they met."""

    def __init__(self, browser, proxy_url, service_url, storage_state, page_seconds):
        self.cookie_setters = {}  # cookie name -> "response URL" or "script URL"
        self.initiators = {}  # request URL -> the script or document that asked for it
        self.responses = {}  # CDP request id -> request URL: Set-Cookie headers arrive by request id
        self.requests = []
        # Service workers blocked: what one fetches the page's request events would not all show.
        self.context = browser.new_context(proxy={"server": proxy_url}, storage_state=storage_state,
                                           service_workers="block", accept_downloads=False)
        self.context.set_default_timeout(page_seconds * 1000)
        self.context.add_init_script(INIT_SCRIPT)
        self.context.expose_binding("__consentScanCookie", self._cookie_written)
        self.context.route(f"{service_url}/**", _refuse_writes)
        self.in_flight, self.last_activity = set(), time.monotonic()
        self.context.on("request", self._request)
        self.context.on("requestfinished", self._done)
        self.context.on("requestfailed", self._done)
        self.page = self.context.new_page()
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.on("Network.requestWillBeSent", self._initiator)
        self.cdp.on("Network.responseReceivedExtraInfo", self._set_cookie_headers)
        self.cdp.send("Network.enable")

    def _cookie_written(self, _source, name, script):
        self.cookie_setters.setdefault(name, f"script {script}")

    def _initiator(self, event):
        initiator = event.get("initiator", {})
        frames = (initiator.get("stack") or {}).get("callFrames") or []
        url = next((frame["url"] for frame in frames if frame.get("url")), initiator.get("url", ""))
        self.initiators.setdefault(event["request"]["url"], url)
        self.responses[event["requestId"]] = event["request"]["url"]

    def _set_cookie_headers(self, event):
        headers = {name.lower(): value for name, value in event.get("headers", {}).items()}
        for line in headers.get("set-cookie", "").split("\n"):
            name = line.split("=", 1)[0].strip()
            if name:
                self.cookie_setters.setdefault(name, f"response {self.responses.get(event['requestId'], '')}")

    def _request(self, request):
        self.requests.append(request)
        self.in_flight.add(request)
        self.last_activity = time.monotonic()

    def _done(self, request):
        self.in_flight.discard(request)
        self.last_activity = time.monotonic()

    def close(self):
        self.context.close()

    def visit(self, url, kind):
        """Load `url`, make the visitor's choice, let the page settle; the Visit (None when the page could not be
        scanned), the links found, and the problems met."""
        try:
            response = self.page.goto(url, wait_until="load")
            failed = response is not None and response.status >= 400
            problems = [f"{url}: HTTP {response.status} in the {kind} visit"] if failed else []
            if guard.origin_of(self.page.url) != guard.origin_of(url):
                return None, [], [f"{url} went to {self.page.url}, off the site's origin, in the {kind} visit"]
            self._settle()
            links = self._links() if kind == "before" else []  # only the first visit's are followed
            if kind != "before":
                # After the choice, what counts is what happens with it in force: the rest of this page view,
                # and the next one, which starts with the stored decision.
                self.requests = []
                if not self._choose("all" if kind == "accept" else "none"):
                    problems.append(f"{url}: no consent banner to click in the {kind} visit")
                self.page.reload(wait_until="load")
                self._settle()
        except PlaywrightError as error:
            return None, [], [f"{url}: {str(error).splitlines()[0]} in the {kind} visit"]
        return self._observed(url, kind), links, problems

    def _choose(self, choice):
        adult = self.page.locator('[data-age="adult"]')
        button = self.page.locator(f'[data-choice="{choice}"]')
        try:
            adult.or_(button).first.wait_for(state="visible", timeout=BANNER_MS)
            if adult.is_visible():
                adult.click()
            button.click(timeout=BANNER_MS)
        except PlaywrightError:
            return False
        self._settle()
        return True

    def _settle(self):
        """Wait until no request has been in flight for QUIET_MS, or SETTLE_MS passed: a page that never goes
        quiet (polling, long polls) is recorded as it is then."""
        deadline = time.monotonic() + SETTLE_MS / 1000
        while time.monotonic() < deadline:
            quiet_for = (time.monotonic() - self.last_activity) * 1000
            if not self.in_flight and quiet_for >= QUIET_MS:
                return
            self.page.wait_for_timeout(QUIET_MS / 4)  # events arrive while the page waits

    def _observed(self, url, kind):
        page_host, page_netloc = urlsplit(url).hostname, host_of(url)
        cookies = [Cookie(cookie["name"], cookie["domain"], cookie["path"], cookie["expires"], cookie["httpOnly"],
                          cookie["secure"], cookie.get("sameSite", ""), third_party(cookie["domain"], page_host),
                          self.cookie_setters.get(cookie["name"], ""))
                   for cookie in self.context.cookies()]
        storage = set()
        for frame in self.page.frames:
            try:
                areas = frame.evaluate("() => [Object.keys(localStorage), Object.keys(sessionStorage)]")
            except PlaywrightError:
                continue  # a frame gone, or one whose storage is off limits (sandboxed, opaque origin)
            for area, keys in (("local", areas[0]), ("session", areas[1])):
                storage.update(StorageKey(area, key) for key in keys)
        requests = {}
        for request in self.requests:
            host = host_of(request.url)
            if host and host != page_netloc and request.url.startswith(("http:", "https:", "ws:", "wss:")):
                initiator = self.initiators.get(request.url) or (request.frame.url if request.frame else "")
                requests.setdefault((host, request.resource_type), Request(host, request.resource_type, initiator))
        return Visit(url, kind, time.time(), sorted(cookies, key=lambda c: (c.name, c.domain)),
                     sorted(storage, key=lambda s: (s.area, s.key)), sorted(requests.values(),
                                                                            key=lambda r: (r.host, r.resource_type)))

    def _links(self):
        try:
            hrefs = self.page.eval_on_selector_all("a[href]", "links => links.map((link) => link.href)")
        except PlaywrightError:
            return []
        return [urldefrag(href).url for href in hrefs]


def _refuse_writes(route):
    """The consent service is read only to a scan: a visitor's config and scripts load, nothing is recorded."""
    if route.request.method in ("GET", "HEAD", "OPTIONS"):
        route.continue_()
    else:
        route.abort("blockedbyclient")


def host_of(url):
    """The host a request went to, with its port when not the scheme's default: another port is another site's
    server as far as a scan can tell (and how local fixtures tell apart)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "") + (f":{port}" if port and port not in (80, 443) else "")


def third_party(cookie_domain, page_host):
    """A cookie whose domain is neither the page's host, nor a parent of it, nor below it."""
    domain = cookie_domain.lstrip(".").lower()
    host = (page_host or "").lower()
    return not (host == domain or host.endswith("." + domain) or domain.endswith("." + host))


def visit_pages(browser, urls, *, allowed_origins, proxy_url, service_url, max_pages, follow_links, page_seconds,
                deadline, storage_state=None, progress=lambda pages_done: None):
    """Every visit of up to `max_pages` pages, starting at `urls` (and, with `follow_links`, the links of the
    site's origins they lead to), until `deadline` (time.monotonic()). Returns (visits, pages, problems)."""
    allowed = {guard.origin_of(origin) for origin in allowed_origins}
    queue, seen, pages, visits, problems = list(urls), set(urls), [], [], []
    while queue and len(pages) < max_pages:
        if time.monotonic() > deadline:
            problems.append(f"time limit reached after {len(pages)} pages; {len(queue)} not visited")
            break
        url = queue.pop(0)
        pages.append(url)
        for kind in VISITS:
            visitor = Visitor(browser, proxy_url, service_url, storage_state, page_seconds)
            try:
                visit, links, visit_problems = visitor.visit(url, kind)
            finally:
                visitor.close()
            problems.extend(visit_problems)
            if visit is not None:
                visits.append(visit)
            if kind == "before" and follow_links:
                for link in links:
                    if guard.origin_of(link) in allowed and link not in seen:
                        seen.add(link)
                        queue.append(link)
        progress(len(pages))
    return visits, pages, problems
