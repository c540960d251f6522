"""Server-rendered SVG charts for the admin pages (no JavaScript, no CDN)."""

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ABANDONED_COLOUR = "#c0392b"
OTHER_COLOUR = "#c9d3dd"


def _nice_step(maximum: int, ticks: int = 4) -> int:
    """A round step (1, 2, 5 × 10^n) so that `ticks` steps cover `maximum`."""
    if maximum <= ticks:
        return 1
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return int(factor * magnitude)
    return int(10 * magnitude)


def abandonment_by_day_svg(days: Sequence, *, width: int = 960, height: int = 280) -> SafeString:
    """Stacked bars per day: abandoned carts (red) on top of the other carts with items (grey),
    so the height of a bar is that day's carts and its red share the day's abandonment rate
    (exact numbers in each bar's tooltip).

    `days` holds objects with `day`, `carts`, `abandoned` and `rate`."""
    left, right, top, bottom = 44, 16, 22, 46
    plot_width, plot_height = width - left - right, height - top - bottom
    count = max(len(days), 1)
    highest = max((d.carts for d in days), default=0)
    step = _nice_step(highest)
    y_max = max(step * math.ceil(highest / step), step)
    slot = plot_width / count
    bar = max(min(slot * 0.7, 40), 1)

    def y_of(value: float) -> float:
        return top + plot_height - (value / y_max) * plot_height

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-labelledby="abandonment-chart-title" class="abandonment-chart" '
        f'style="max-width:{width}px;font:11px sans-serif">',
        '<title id="abandonment-chart-title">Abandoned carts by day of creation</title>',
    ]
    for tick in range(0, y_max + 1, step):
        y = y_of(tick)
        parts.append(f'<line x1="{left}" x2="{left + plot_width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{tick}</text>')
    label_every = max(1, math.ceil(count / 12))
    for index, day in enumerate(days):
        x = left + index * slot + (slot - bar) / 2
        label = escape(day.day.isoformat())
        tip = f"{label}: {day.abandoned} of {day.carts} carts abandoned ({day.rate:.0%})"
        parts.append(f'<g class="day" data-day="{label}"><title>{tip}</title>')
        if day.carts:
            others = day.carts - day.abandoned
            y_total, y_others = y_of(day.carts), y_of(others)
            parts.append(
                f'<rect x="{x:.1f}" y="{y_others:.1f}" width="{bar:.1f}" '
                f'height="{top + plot_height - y_others:.1f}" fill="{OTHER_COLOUR}"/>'
            )
            if day.abandoned:
                parts.append(
                    f'<rect class="abandoned" x="{x:.1f}" y="{y_total:.1f}" width="{bar:.1f}" '
                    f'height="{y_others - y_total:.1f}" fill="{ABANDONED_COLOUR}"/>'
                )
            if slot >= 22:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{y_total - 4:.1f}" text-anchor="middle" font-size="9" '
                    f'fill="{ABANDONED_COLOUR if day.abandoned else "#777"}">{day.rate:.0%}</text>'
                )
        parts.append("</g>")
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_height + 14}" text-anchor="middle" fill="#555">'
                f"{day.day.strftime('%b %d')}</text>"
            )
    parts.append(
        f'<line x1="{left}" x2="{left + plot_width}" y1="{top + plot_height}" y2="{top + plot_height}" stroke="#999"/>'
    )
    legend_y = height - 10
    parts.append(
        f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{ABANDONED_COLOUR}"/>'
        f'<text x="{left + 14}" y="{legend_y}">abandoned</text>'
        f'<rect x="{left + 90}" y="{legend_y - 9}" width="10" height="10" fill="{OTHER_COLOUR}"/>'
        f'<text x="{left + 104}" y="{legend_y}">converted, removed or still open</text>'
    )
    parts.append("</svg>")
    # Every text part above is escaped or numeric.
    return mark_safe("".join(parts))
