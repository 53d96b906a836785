"""`flask consent scan ...`: scan a site's pages, or run the scans queued from the console (--worker);
`flask consent scanner ...`: the lists of known cookies and trackers the scanner classifies with."""
import json
import sys
import time
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext

from consent.errors import InvalidRequest
from consent.scanner import guard, known, report, scans
from consent.scanner.findings import SEVERITIES

scanner_cli = AppGroup("scanner", help="The compliance scanner's lists of known cookies and trackers.")


@scanner_cli.command("update-database")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "list_name", type=click.Choice(sorted(known.LISTS)), default="open-cookie-database",
              show_default=True, help="Which list the file replaces.")
def update_database(path, list_name):
    """Replace a list with a newer CSV of the same columns (e.g. the Open Cookie Database's latest
    open-cookie-database.csv); every row is checked before anything is replaced."""
    try:
        count = known.update_list(list_name, path)
    except ValueError as error:
        raise InvalidRequest(str(error)) from None
    click.echo(f"{list_name}: {count} entries. Keep consent/scanner/data/SOURCE.md in step (origin, commit, date).")


@scanner_cli.command("lookup")
@click.argument("names", nargs=-1, required=True)
def lookup(names):
    """What the lists say of cookie names or hosts (a name with a dot is looked up as a host)."""
    lists = known.known_cookies()
    for name in names:
        entry = lists.host(name) if "." in name else lists.cookie(name)
        if entry is None:
            click.echo(f"{name}\tunknown")
        else:
            click.echo(f"{name}\t{entry.platform}\t{entry.category}\t{entry.source}")


@click.command("scan")
@with_appcontext
@click.argument("site_id", required=False)
@click.argument("urls", nargs=-1)
@click.option("--pages", type=int, default=10, show_default=True, help="Visit at most this many pages.")
@click.option("--follow-links", is_flag=True, help="Also visit the links on the site's origins the pages lead to.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON (for CI).")
@click.option("--fail-on", type=click.Choice(SEVERITIES),
              help="Exit with status 3 when a finding is this severe or worse.")
@click.option("--storage-state", type=click.Path(exists=True, dir_okay=False),
              help="A Playwright storage state (cookies, storage) every visitor starts from: pages behind a login.")
@click.option("--worker", is_flag=True, help="Run the scans queued from the console, one after another.")
@click.option("--once", is_flag=True, help="With --worker: run what is queued now, then stop.")
@click.option("--interval", type=float, default=5.0, show_default=True, help="With --worker: seconds between looks.")
def scan_command(site_id, urls, pages, follow_links, as_json, fail_on, storage_state, worker, once, interval):
    """Scan a site's pages (SITE_ID URL...): do cookies and trackers wait for consent, and stop after "Reject all"?

    Each page is visited by three fresh visitors (before a choice, after "Reject all", after "Accept all");
    nothing they do is recorded as consent. Only pages of the site's allowed origins are visited.
    """
    if worker:
        return _work(once, interval)
    if not site_id or not urls:
        raise click.UsageError("Give a site id and at least one URL, or --worker.")
    try:
        scan = scans.run(scans.queue(site_id, urls, pages, follow_links, scans.COMMAND_LINE),
                         storage_state=storage_state)
    except guard.ScanRefused as refusal:
        raise click.ClickException(str(refusal)) from None
    if scan.status == "failed":
        raise click.ClickException(f"The scan failed: {scan.error}")
    click.echo(json.dumps(scan.result, ensure_ascii=False, indent=2) if as_json else summary(scan.result))
    if fail_on and report.at_or_above(scan.result, fail_on):
        sys.exit(3)


def summary(result):
    """The result for a person: counts, one line per finding, problems, and the suggested declarations."""
    counts = result["counts"]
    lines = [f"{len(result['pages'])} pages, {sum(counts.values())} findings: "
             + ", ".join(f"{counts[severity]} {severity}" for severity in reversed(SEVERITIES))]
    for finding in result["findings"]:
        where = f" on {finding['page']}" if finding["page"] else ""
        known_as = f" [{finding['known']}]" if finding["known"] else ""
        lines.append(f"{finding['severity']:<6} {finding['rule']:<20} {finding['subject']}{known_as}{where}: "
                     f"{finding['evidence']}")
    lines += [f"not visited: {problem}" for problem in result["problems"]]
    lines += [f"refused: {refused['reason']}" for refused in result["refused"]]
    if result["suggested"]:
        lines += ["", result["suggested"]]
    return "\n".join(lines)


def _work(once, interval):
    from consent.scanner.chromium import launched  # Playwright starts only where scans run

    with launched() as browser:
        while True:
            done = scans.run_next(browser)
            if done is not None:
                click.echo(f"scan {done.id} of {done.site_id}: {done.status}")
            elif once:
                return
            else:
                time.sleep(interval)
