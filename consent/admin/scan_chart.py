"""The console's chart of a site's findings per scan over time: a stacked bar per finished scan, by severity.

Built here as SVG text, so that the page runs no script and asks no other host for anything: the console's
CSP (consent/http/security.py) allows neither, nor style attributes. Colours are SVG presentation attributes
(fill="..."), which style-src does not govern. The page prints the same numbers in a table beside the chart,
so the chart itself is hidden from screen readers. Pure functions of the counts: tested without a request.
"""
from markupsafe import Markup, escape

STACK = ("high", "medium", "low")  # bottom up: the findings that matter most sit on the baseline
COLOURS = {"high": "#b3261e", "medium": "#c77700", "low": "#6b7f99"}
PLOT_HEIGHT = 120  # the busiest scan's bar, in pixels
BAR_WIDTH = 24
STEP = 36  # a bar and the gap after it
LEFT = 8
TOP = 16  # room for the totals above the bars
DATES = 16  # room for the dates below them
LEGEND = 22
LEGEND_STEP = 100  # per severity; wide enough for its label in either language
TEXT = "#333"


def heights(counts):
    """Per scan, {severity: bar segment height}: the scan with the most findings reaches PLOT_HEIGHT."""
    most = max((sum(scan[severity] for severity in STACK) for scan in counts), default=0)
    scale = PLOT_HEIGHT / most if most else 0
    return [{severity: round(scan[severity] * scale, 2) for severity in STACK} for scan in counts]


def chart(points, labels):
    """The chart of `points`, [(date text, {"high": n, "medium": n, "low": n}), ...] oldest first, with
    `labels` {severity: text} in the legend; "" when there is no scan to draw."""
    if not points:
        return Markup("")
    baseline = TOP + PLOT_HEIGHT
    width = max(LEFT * 2 + len(points) * STEP, LEFT + len(STACK) * LEGEND_STEP)
    height = baseline + DATES + LEGEND
    parts = [f'<line x1="{LEFT}" y1="{baseline}" x2="{width - LEFT}" y2="{baseline}" stroke="#999"/>']
    bars = heights([counts for _date, counts in points])
    for number, ((date, counts), bar) in enumerate(zip(points, bars, strict=True)):
        parts += _bar(LEFT + number * STEP, baseline, date, counts, bar)
    legend = baseline + DATES + 6
    for number, severity in enumerate(STACK):
        x = LEFT + number * LEGEND_STEP
        parts.append(f'<rect x="{x}" y="{legend}" width="10" height="10" fill="{COLOURS[severity]}"/>')
        parts.append(f'<text x="{x + 14}" y="{legend + 9}" fill="{TEXT}">{escape(labels[severity])}</text>')
    return svg(width, height, parts)


def svg(width, height, parts):
    """The console's chart element around `parts` (consent/admin/stats_chart.py draws in it too): hidden from
    screen readers, whom the table beside each chart serves."""
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
                  f'viewBox="0 0 {width} {height}" aria-hidden="true" focusable="false" font-size="10">'
                  + "".join(parts) + "</svg>")


def _bar(x, baseline, date, counts, bar):
    """One scan's segments, bottom up, its total above them and its date below."""
    parts, top = [], baseline
    for severity in STACK:
        if bar[severity]:
            top -= bar[severity]
            parts.append(f'<rect x="{x}" y="{_number(top)}" width="{BAR_WIDTH}" '
                         f'height="{_number(bar[severity])}" fill="{COLOURS[severity]}" data-severity="{severity}"/>')
    middle = _number(x + BAR_WIDTH / 2)
    total = sum(counts[severity] for severity in STACK)
    return [*parts, f'<text x="{middle}" y="{_number(top - 3)}" text-anchor="middle" fill="{TEXT}">{total}</text>',
            f'<text x="{middle}" y="{baseline + 12}" text-anchor="middle" fill="{TEXT}">{escape(date)}</text>']


def _number(value):
    """A coordinate as SVG reads it best: 60, not 60.0; 51.43, not 51.428571."""
    return f"{round(value, 2):g}"
