"""The Statistics page's charts as SVG text, built here: the page runs no script and asks no other host for
anything, as the console's CSP requires (consent/admin/scan_chart.py says why presentation attributes are
allowed where style attributes are not). Every chart has a table beside it with the same numbers, so the SVG is
hidden from screen readers. Pure functions, tested without a request.
"""
from markupsafe import Markup, escape

from consent.admin.scan_chart import TEXT, svg

BAR = "#2f6db5"
BEFORE = "#a9b8cc"  # the previous period
HEIGHT = 120  # the tallest day's column, in pixels
WIDTH = 320  # a share of 100 %, in pixels


def daily_columns(days):
    """Decisions per day: [(date, count), ...] oldest first as columns, the first and last dates under them."""
    if not days:
        return Markup("")
    most = max(count for _day, count in days) or 1
    step = max(4, min(24, 720 // len(days)))
    width, top, bottom = step * len(days) + 16, 14, HEIGHT + 14
    parts = [f'<line x1="8" y1="{bottom}" x2="{width - 8}" y2="{bottom}" stroke="#999"/>']
    for number, (_day, count) in enumerate(days):
        height = round(count / most * HEIGHT, 2)
        if height:
            parts.append(f'<rect x="{8 + number * step}" y="{round(bottom - height, 2)}" width="{max(step - 2, 2)}" '
                         f'height="{height}" fill="{BAR}"/>')
    parts.append(f'<text x="8" y="{top - 3}" fill="{TEXT}">{most if any(count for _d, count in days) else 0}</text>')
    for anchor, x, (day, _count) in (("start", 8, days[0]), ("end", width - 8, days[-1])):
        parts.append(f'<text x="{x}" y="{bottom + 12}" text-anchor="{anchor}" fill="{TEXT}">{day:%m-%d}</text>')
    return svg(width, bottom + 16, parts)


def share_bars(rows):
    """Shares as horizontal bars, this period above the previous one: [(label, share or None, previous or None)]."""
    if not rows:
        return Markup("")
    label_width, row_height = 160, 30
    parts = []
    for number, (label, share, previous) in enumerate(rows):
        y = number * row_height
        parts.append(f'<text x="0" y="{y + 12}" fill="{TEXT}">{escape(_clip(label))}</text>')
        for offset, value, colour in ((2, share, BAR), (14, previous, BEFORE)):
            if value:
                parts.append(f'<rect x="{label_width}" y="{y + offset}" width="{round(value * WIDTH, 2)}" height="10" '
                             f'fill="{colour}"/>')
        if share is not None:
            parts.append(f'<text x="{label_width + round(share * WIDTH, 2) + 4}" y="{y + 11}" fill="{TEXT}">'
                         f'{share:.0%}</text>')
    return svg(label_width + WIDTH + 40, len(rows) * row_height, parts)


def _clip(label, most=26):
    return label if len(label) <= most else label[:most - 1] + "…"
