"""Charts drawn on the server as SVG: no JavaScript library, nothing to vendor.

``outcomes_chart``: finished attempts per minute, one strip per job type,
each bar stacked by outcome (completed, failed, abandoned). ``lag_chart``:
dispatch lag (scheduled_for -> started_at) over the last hours, median and
p99 per bucket. Every text that comes from the database is escaped; each
bar and point carries a ``<title>`` (the browser's tooltip).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

OUTCOME_COLORS = {"completed": "#2e7d32", "failed": "#c62828", "abandoned": "#ef6c00"}
WIDTH = 1000
LEFT = 150  # room for the job type's name
RIGHT = 60


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min"


def outcomes_chart(rows: Sequence[Any], now: datetime, minutes: int = 60) -> str:
    """``rows``: minute, job_type, status, n (query ``outcomes_per_minute``)."""
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes - 1)
    counts: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        slot = int((r["minute"] - start).total_seconds() // 60)
        if 0 <= slot < minutes:
            counts[r["job_type"]][slot][r["status"]] = int(r["n"])
    types = sorted(counts)
    strip, gap, top, bottom = 46, 8, 22, 22
    height = top + bottom + max(1, len(types)) * (strip + gap)
    plot_w = WIDTH - LEFT - RIGHT
    bar_w = plot_w / minutes
    out = [
        f'<svg class="chart" id="outcomes-chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="Finished attempts per minute by job type, last {minutes} minutes">',
        f'<text x="{LEFT}" y="14" class="legend">',
    ]
    for i, (status, color) in enumerate(OUTCOME_COLORS.items()):
        out.append(f'<tspan dx="{0 if i == 0 else 14}" fill="{color}">\u25a0</tspan> {status}')
    out.append("</text>")
    if not types:
        out.append(
            f'<text x="{LEFT + plot_w / 2}" y="{top + strip / 2 + 4}" text-anchor="middle" '
            f'class="empty">no attempt finished in the last {minutes} minutes</text>'
        )
    for row_i, job_type in enumerate(types):
        y0 = top + row_i * (strip + gap)
        peak = max(sum(v.values()) for v in counts[job_type].values())
        out.append(
            f'<text x="{LEFT - 8}" y="{y0 + strip / 2 + 4}" text-anchor="end" '
            f'class="label">{escape(job_type)}</text>'
        )
        out.append(
            f'<rect x="{LEFT}" y="{y0}" width="{_num(plot_w)}" height="{strip}" class="strip"/>'
        )
        out.append(f'<text x="{WIDTH - RIGHT + 6}" y="{y0 + 10}" class="axis">{peak}/min</text>')
        for slot, by_status in sorted(counts[job_type].items()):
            base = float(y0 + strip)
            minute = start + timedelta(minutes=slot)
            for status, color in OUTCOME_COLORS.items():
                n = by_status.get(status, 0)
                if not n:
                    continue
                h = strip * n / peak
                base -= h
                out.append(
                    f'<rect x="{_num(LEFT + slot * bar_w + 0.5)}" y="{_num(base)}" '
                    f'width="{_num(max(bar_w - 1, 1))}" height="{_num(h)}" fill="{color}" '
                    f'class="bar {status}"><title>{escape(job_type)} {minute:%H:%M}: '
                    f"{n} {status}</title></rect>"
                )
    axis_y = height - 6
    out.append(f'<text x="{LEFT}" y="{axis_y}" class="axis">{start:%H:%M} UTC</text>')
    out.append(
        f'<text x="{WIDTH - RIGHT}" y="{axis_y}" text-anchor="end" class="axis">{end:%H:%M}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def lag_chart(rows: Sequence[Any], now: datetime, hours: int = 6) -> str:
    """``rows``: bucket_at, n, p50_seconds, p99_seconds, max_seconds."""
    height, top, bottom, left = 200, 16, 24, 70
    plot_w = WIDTH - left - RIGHT
    plot_h = height - top - bottom
    start = now - timedelta(hours=hours)
    span = (now - start).total_seconds()
    peak = max([float(r["p99_seconds"]) for r in rows] + [0.001])
    out = [
        f'<svg class="chart" id="lag-chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label="Dispatch lag, last {hours} hours">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="strip"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        out.append(
            f'<text x="{left - 6}" y="{_num(y + 4)}" text-anchor="end" class="axis">'
            f"{format_seconds(peak * frac)}</text>"
        )
    if not rows:
        out.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            f'class="empty">no attempt started in the last {hours} hours</text>'
        )

    def point(r: Any, key: str) -> tuple[float, float]:
        x = left + plot_w * (r["bucket_at"] - start).total_seconds() / span
        y = top + plot_h * (1 - float(r[key]) / peak)
        return x, y

    for key, cls in (("p99_seconds", "p99"), ("p50_seconds", "p50")):
        pts = [point(r, key) for r in rows]
        if len(pts) > 1:
            path = " ".join(f"{_num(x)},{_num(y)}" for x, y in pts)
            out.append(f'<polyline points="{path}" class="line {cls}"/>')
        for r, (x, y) in zip(rows, pts, strict=True):
            out.append(
                f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2.5" class="dot {cls}">'
                f"<title>{r['bucket_at'].astimezone(UTC):%H:%M} {cls}: "
                f"{format_seconds(float(r[key]))} "
                f"({r['n']} attempts)</title></circle>"
            )
    out.append(
        f'<text x="{left}" y="{height - 6}" class="axis">{start:%H:%M} UTC</text>'
        f'<text x="{left + plot_w}" y="{height - 6}" text-anchor="end" class="axis">'
        f"{now:%H:%M}</text>"
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" class="legend">'
        '<tspan class="p50">\u2014</tspan> median  <tspan class="p99">\u2014</tspan> p99</text>'
    )
    out.append("</svg>")
    return "".join(out)
