"""`flask consent stats ...`: the roll-up of a site's statistics, run beside the web server."""
import time

import click
from flask.cli import AppGroup

from consent.stats import rollup

stats_cli = AppGroup("stats", help="Statistics for operators: counters rolled up outside the decision path.")


@stats_cli.command("rollup")
@click.option("--worker", is_flag=True, help="Keep rolling up, every --interval seconds.")
@click.option("--interval", type=float, default=60.0, show_default=True, help="With --worker: seconds between runs.")
def rollup_command(worker, interval):
    """Count new decisions and banner marks into the daily counters the console's Statistics page reads."""
    while True:
        for site_id, (decisions, marks) in rollup.roll_up_all().items():
            click.echo(f"{site_id}: {decisions} decisions, {marks} banner marks counted")
        if not worker:
            return
        time.sleep(interval)
