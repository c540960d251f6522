"""Inline SVG charts of the tracking analytics page (server-rendered: no JavaScript, no CDN)."""

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

BAR_COLOUR = "#1f6f8b"
GENERATED_COLOUR = "#8e44ad"
TRACK_COLOUR = "#e5e5e5"


def _nice_top(maximum: int, ticks: int = 4) -> tuple[int, int]:
    """A round axis maximum and step (1, 2, 5 x 10^n) covering `maximum`."""
    if maximum <= ticks:
        return ticks, 1
    raw = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(int(f * magnitude) for f in (1, 2, 5, 10) if f * magnitude >= raw)
    return step * math.ceil(maximum / step), step


def events_by_day_svg(days, *, width: int = 900, height: int = 240) -> SafeString:
    """Vertical bars: events per day (`days`: objects with `date` and `events`)."""
    left, right, top, bottom = 48, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max, step = _nice_top(max((d.events for d in days), default=0))
    slot = plot_w / max(len(days), 1)
    bar = max(min(slot * 0.75, 36), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'class="chart events-by-day" style="max-width:{width}px;font:11px sans-serif">',
        "<title>Tracking events by day</title>",
    ]
    for tick in range(0, y_max + 1, step):
        y = top + plot_h - tick / y_max * plot_h
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{tick}</text>')
    label_every = max(1, math.ceil(len(days) / 12))
    for index, day in enumerate(days):
        x = left + index * slot + (slot - bar) / 2
        bar_h = day.events / y_max * plot_h
        label = escape(day.date.isoformat())
        parts.append(
            f'<rect class="day" data-date="{label}" x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{bar:.1f}" '
            f'height="{bar_h:.1f}" fill="{BAR_COLOUR}"><title>{label}: {day.events} events</title></rect>'
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#555">'
                f"{day.date.strftime('%b %d')}</text>"
            )
    if not days:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#777">No events</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def events_by_product_svg(products, *, width: int = 900, row: int = 22) -> SafeString:
    """Horizontal bars: the products with most events (`products`: product_id, product_title, events)."""
    label_w, right = 300, 60
    height = max(len(products), 1) * row + 8
    top_count = max((p.events for p in products), default=0) or 1
    plot_w = width - label_w - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'class="chart events-by-product" style="max-width:{width}px;font:12px sans-serif">',
        "<title>Tracking events by product</title>",
    ]
    for index, product in enumerate(products):
        y = 4 + index * row
        name = product.product_title or product.product_id or "(no product)"
        name = name if len(name) <= 45 else name[:44] + "…"
        bar_w = product.events / top_count * plot_w
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row * 0.65:.1f}" text-anchor="end" fill="#333">{escape(name)}</text>'
            f'<rect class="product" data-product="{escape(product.product_id or "")}" x="{label_w}" y="{y + 3}" '
            f'width="{max(bar_w, 1):.1f}" height="{row - 6}" fill="{BAR_COLOUR}"/>'
            f'<text x="{label_w + bar_w + 6:.1f}" y="{y + row * 0.65:.1f}" fill="#333">{product.events}</text>'
        )
    if not products:
        parts.append(f'<text x="{width / 2}" y="{row}" text-anchor="middle" fill="#777">No products</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def share_svg(share: float, *, width: int = 420, height: int = 28) -> SafeString:
    """One bar filled to `share` (0..1): the events with a generated image."""
    filled = max(0.0, min(share, 1.0)) * width
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'class="chart generated-share" style="max-width:{width}px;font:12px sans-serif">'
        f"<title>Share of events with a generated image: {share:.0%}</title>"
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="{TRACK_COLOUR}"/>'
        f'<rect x="0" y="0" width="{filled:.1f}" height="{height}" fill="{GENERATED_COLOUR}"/>'
        f'<text x="{width / 2}" y="{height * 0.68:.1f}" text-anchor="middle" fill="#000">{share:.0%}</text></svg>'
    )
