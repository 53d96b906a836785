"""Widget benchmark: our consent.js (the per-site script, one request to the banner, and the plain tag)
next to vanilla-cookieconsent v3 and klaro, installed from the npm registry for the run, each configured
with the demo site's purposes on the same host page, all served from one loopback server (ours compressed
by the app, brotli; the peers' files gzipped), measured in headless Chromium (4x CPU slowdown, cold cache).

    .venv/bin/python -m bench.widget [--runs 15]
"""
import argparse
import gzip
import json
import logging
import multiprocessing
import statistics
import subprocess
import tempfile

import rjsmin
from playwright.sync_api import sync_playwright
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bench.common import PROJECT_ROOT, bench_app, machine_note, prepare_database, print_table, require_command
from consent.storage import db
from consent.visitor import widget_script
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

PEERS = PROJECT_ROOT / "bench" / ".peers"
SCRIPTS = [PROJECT_ROOT / "static" / name for name in (widget_script.CORE, widget_script.LAZY)]
BUDGET = 8192  # response bodies on the wire before the banner (issue 14)
OURS, OURS_PLAIN = "consent.js (ours, one request)", "consent.js (ours, plain tag)"
PEER_PACKAGES = ["vanilla-cookieconsent@3", "klaro@0.7"]
CPU_SLOWDOWN = 4
SETTLE_MS = 1000  # after the banner shows: late long tasks and layout shifts still count
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "application/problem+json")

BANNER_SHOWN = "bench: banner shown"
# Runs before any page script: watches for long tasks, layout shifts and the first frame with a banner,
# which it announces on the console, so that the driver need not run anything in the page to wait for it.
PROBE = """
const BANNER_SHOWN = __BANNER_SHOWN__;
(() => {
  const perf = window.__perf = { longTasks: [], shift: 0, bannerAt: null };
  new PerformanceObserver((list) => { for (const e of list.getEntries()) perf.longTasks.push(e.duration); })
    .observe({ type: "longtask", buffered: true });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (!e.hadRecentInput) perf.shift += e.value;
  }).observe({ type: "layout-shift", buffered: true });
  const shown = (el) => {
    if (!el) return false;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none"
      && parseFloat(style.opacity) > 0;
  };
  const banners = () => {
    const found = [document.querySelector("#cc-main .cm"),
                   document.querySelector(".klaro .cookie-notice:not(.cookie-notice-hidden)"),
                   document.querySelector(".klaro .cookie-modal")];
    for (const host of document.querySelectorAll("body > *")) {
      if (host.shadowRoot) found.push(host.shadowRoot.querySelector("[role=dialog], dialog, section"));
    }
    return found;
  };
  const poll = () => {
    if (!banners().some(shown)) return requestAnimationFrame(poll);
    perf.bannerAt = performance.now();
    console.debug(BANNER_SHOWN);
  };
  requestAnimationFrame(poll);
})();
""".replace("__BANNER_SHOWN__", json.dumps(BANNER_SHOWN))

HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Host page</title>{head}</head>
<body><main><h1>A customer's page</h1>
<p>Every widget is embedded in this same page, as its documentation says to embed it.</p>
<p>Some text, so that a banner pushing content around would show as layout shift.</p></main>
{body}</body></html>"""


def script_sizes():
    """{file name: {encoding: bytes}} of the widget's two files as the app serves them (minified, then
    brotli or gzip; the core's lazy address, a few bytes more, aside)."""
    sizes = {}
    for path in SCRIPTS:
        built = widget_script.Built(rjsmin.jsmin(path.read_text(encoding="utf-8")).encode(), None)
        sizes[path.name] = {encoding: len(body) for encoding, body in built.bodies.items()}
    return sizes


def install_peers():
    """The peers, from the npm registry, into bench/.peers (git-ignored); skipped when already there."""
    require_command("npm", "npm")
    if not all((PEERS / "node_modules" / name.split("@")[0] / "package.json").exists() for name in PEER_PACKAGES):
        subprocess.run(["npm", "install", "--prefix", str(PEERS), "--no-audit", "--no-fund", "--loglevel=error",
                        *PEER_PACKAGES], check=True)
    versions = {}
    for name in ("vanilla-cookieconsent", "klaro"):
        versions[name] = json.loads((PEERS / "node_modules" / name / "package.json").read_text())["version"]
    return versions


def peer_configs(config):
    """The demo site's banner and purposes in each peer's configuration language, as script files."""
    purposes = [{"id": p["id"], "required": p["required"], "title": p["title"]["en"],
                 "description": p["description"]["en"], "cookies": p["cookies"]} for p in config["purposes"]]
    texts = {"title": config["texts"]["title"]["en"], "intro": config["texts"]["intro"]["en"],
             "policy": config["policy"]["url"]}
    cookieconsent = {
        # Headless Chromium announces itself as automated; the banner is for people, so show it anyway.
        "hideFromBots": False,
        "categories": {p["id"]: ({"enabled": True, "readOnly": True} if p["required"] else {}) for p in purposes},
        "language": {"default": "en", "translations": {"en": {
            "consentModal": {"title": texts["title"], "description": texts["intro"], "acceptAllBtn": "Accept all",
                             "acceptNecessaryBtn": "Reject all", "showPreferencesBtn": "Customize",
                             "footer": f'<a href="{texts["policy"]}">Privacy policy</a>'},
            "preferencesModal": {"title": "Privacy preferences", "acceptAllBtn": "Accept all",
                                 "acceptNecessaryBtn": "Reject all", "savePreferencesBtn": "Save my choices",
                                 "closeIconLabel": "Close",
                                 "sections": [{"title": p["title"], "description": p["description"],
                                               "linkedCategory": p["id"]} for p in purposes]},
        }}},
    }
    klaro = {
        "version": 1, "elementID": "klaro", "storageMethod": "cookie", "cookieName": "klaro", "default": False,
        "mustConsent": False, "acceptAll": True, "hideDeclineAll": False, "lang": "en",
        "translations": {"en": {
            "privacyPolicyUrl": texts["policy"],
            "consentNotice": {"description": f"{texts['title']}. {texts['intro']}"},
            "consentModal": {"title": "Privacy preferences", "description": texts["intro"]},
            "purposes": {p["id"]: p["title"] for p in purposes},
            "ok": "Accept all", "decline": "Reject all", "save": "Save my choices",
            **{p["id"]: {"description": p["description"]} for p in purposes},
        }},
        "services": [{"name": p["id"], "title": p["title"], "purposes": [p["id"]], "required": p["required"],
                      "default": False, "cookies": p["cookies"]} for p in purposes],
    }
    directory = PEERS / "configs"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cookieconsent-config.js").write_text(f"CookieConsent.run({json.dumps(cookieconsent)});\n")
    (directory / "klaro-config.js").write_text(f"window.klaroConfig = {json.dumps(klaro)};\n")


def embeddings(widget_url):
    """Each widget's tags, exactly as its documentation embeds it."""
    peers = f"{widget_url}/peers"
    return {
        OURS: ("", f'<script src="{widget_url}/api/v1/sites/demo/consent.js?lang=en" async></script>'),
        OURS_PLAIN: ("", f'<script src="{widget_url}/static/consent.js" data-site="demo" async></script>'),
        "vanilla-cookieconsent": (
            f'<link rel="stylesheet" href="{peers}/node_modules/vanilla-cookieconsent/dist/cookieconsent.css">',
            f'<script src="{peers}/node_modules/vanilla-cookieconsent/dist/cookieconsent.umd.js" defer></script>'
            f'<script src="{peers}/configs/cookieconsent-config.js" defer></script>'),
        "klaro": ("", f'<script src="{peers}/configs/klaro-config.js" defer></script>'
                      f'<script src="{peers}/node_modules/klaro/dist/klaro.js" defer></script>'),
    }


class GzipEverything:
    """Gzip (level 6) every text response not compressed already (the peers' files; ours come compressed by
    the app), and let the host page time them (Timing-Allow-Origin)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        captured, chunks = {}, []

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return chunks.append

        iterable = self.app(environ, capture)
        try:
            chunks.extend(iterable)
        finally:
            getattr(iterable, "close", lambda: None)()
        body = b"".join(chunks)
        encoded = any(k.lower() == "content-encoding" for k, _v in captured["headers"])
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        content_type = dict((k.lower(), v) for k, v in headers).get("content-type", "")
        accepts_gzip = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        if accepts_gzip and not encoded and content_type.startswith(COMPRESSIBLE) and body:
            body = gzip.compress(body, 6, mtime=0)
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        headers += [("Content-Length", str(len(body))), ("Timing-Allow-Origin", "*")]
        start_response(captured["status"], headers)
        return [body]


class Served:
    """A WSGI app on a free loopback port, served by a process of its own (not sharing our GIL with
    the browser driver, which would slow every answer down)."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.process = multiprocessing.get_context("fork").Process(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.process.start()
        return self

    def close(self):
        self.process.terminate()
        self.process.join()
        self.server.server_close()


def host_site(pages):
    @Request.application
    def serve(request):
        if request.path not in pages:
            return NotFound()
        return Response(pages[request.path], mimetype="text/html")

    return serve


def measure_once(browser, page_url, widget_origin):
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    cdp.send("Performance.enable")
    page.add_init_script(PROBE)
    # Not page.wait_for_function: it installs Playwright's injected script in the page (some 50 ms of
    # main thread at this slowdown) as soon as the page has loaded, while a widget that renders after
    # the load event (ours: its configuration is fetched) is still working towards its banner.
    with page.expect_console_message(lambda message: message.text == BANNER_SHOWN, timeout=30_000):
        page.goto(page_url)
    page.wait_for_timeout(SETTLE_MS)
    figures = page.evaluate("""(origin) => {
        const resources = performance.getEntriesByType("resource").filter((e) => e.name.startsWith(origin));
        const start = Math.min(...resources.map((e) => e.startTime));
        return {
            bytes: resources.reduce((sum, e) => sum + e.transferSize, 0),
            body_bytes: resources.reduce((sum, e) => sum + e.encodedBodySize, 0),
            // What the page had received when the banner showed: the budget's measure.
            before_banner: resources.filter((e) => e.responseEnd <= window.__perf.bannerAt)
              .reduce((sum, e) => sum + e.encodedBodySize, 0),
            requests: resources.length,
            from_start: window.__perf.bannerAt - start,
            from_navigation: window.__perf.bannerAt,
            long_tasks: window.__perf.longTasks.reduce((sum, d) => sum + d, 0),
            blocking: window.__perf.longTasks.reduce((sum, d) => sum + Math.max(0, d - 50), 0),
            shift: window.__perf.shift,
        };
    }""", widget_origin)
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    figures["script_ms"] = metrics["ScriptDuration"] * 1000
    context.close()
    return figures


def run(runs=15):
    """Measure each widget `runs` times, interleaved; returns (rows, medians)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per file served, times 45 loads
    versions = install_peers()
    with tempfile.TemporaryDirectory(prefix="consent-widget-bench-") as workdir:
        database_url = f"sqlite:///{workdir}/widget.sqlite3"
        host_pages = {}
        host = Served(host_site(host_pages))
        config = prepare_database(database_url, host.url)
        peer_configs(config)
        app = bench_app(database_url, CONSENT_REQUEST_LOG=False)
        peers_app = SharedDataMiddleware(NotFound(), {"/": str(PEERS)}, cache=False)
        widgets = Served(GzipEverything(DispatcherMiddleware(app, {"/peers": peers_app})))
        for number, (head, body) in enumerate(embeddings(widgets.url).values()):
            host_pages[f"/{number}.html"] = HOST_PAGE.format(head=head, body=body)
        host.start(), widgets.start()
        names = list(embeddings(widgets.url))
        samples = {name: [] for name in names}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _ in range(runs):
                    for number, name in enumerate(names):
                        samples[name].append(measure_once(browser, f"{host.url}/{number}.html", widgets.url))
                browser.close()
        finally:
            widgets.close()
            host.close()
            db.dispose(app)
    medians = {name: {key: statistics.median(s[key] for s in runs_) for key in runs_[0]}
               for name, runs_ in samples.items()}
    return table_rows(medians, versions), medians


def table_rows(medians, versions):
    ours = medians[OURS]
    rows = []
    for name, m in medians.items():
        label = name if name not in versions else f"{name} {versions[name]}"
        ratio = "" if name.startswith("consent.js") else (f"{ours['bytes'] / m['bytes']:.2f} × bytes, "
                                                          f"{ours['from_start'] / m['from_start']:.2f} × time")
        rows.append([label, f"{m['bytes'] / 1024:.1f} ({m['requests']:.0f})", f"{m['before_banner']:,.0f}",
                     f"{m['from_start']:.0f}",
                     f"{m['from_navigation']:.0f}", f"{m['long_tasks']:.0f} / {m['blocking']:.0f}", f"{m['shift']:.3f}",
                     f"{m['script_ms']:.0f}", ratio])
    return rows


HEADER = ["widget", "KB transferred (requests)", "body bytes before banner", "banner visible, ms after widget start",
          "ms after navigation", "long tasks / blocking ms", "layout shift", "script ms", "ours ÷ peer"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    note = machine_note()
    rows, _medians = run(args.runs)
    print_table(f"Widget: medians of {args.runs} cold loads each, Chromium at {CPU_SLOWDOWN}x CPU slowdown ({note})",
                HEADER, rows)
    for name, sizes in script_sizes().items():
        print(f"{name} as served: {sizes['br']:,} bytes brotli, {sizes['gzip']:,} gzip, {sizes['identity']:,} minified")


if __name__ == "__main__":
    main()
