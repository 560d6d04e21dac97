"""Log-log line charts as standalone SVG, with the standard library only.

The Python benchmark draws three small charts (latency and bandwidth vs message size, Python vs Rust vs
mpi4py). matplotlib would do it, but it is a large dependency (and a font cache) for a bench that otherwise needs
nothing beyond the package and NumPy, and CI would have to install it to test the charts. A chart with log axes,
a legend and a caption is a hundred lines of SVG text; the viewer resolves the generic ``sans-serif`` font, so
nothing here depends on the fonts of the machine that drew it.
"""
from __future__ import annotations

import datetime
import math
import os
from typing import Callable, Dict, List, Sequence, Tuple
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 900, 560
LEFT, RIGHT, TOP, BOTTOM = 90, 24, 48, 96
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

Points = Sequence[Tuple[float, float]]


def format_size(v: float) -> str:
    """``8 B``, ``4 KiB``, ``64 MiB``: the size a benchmark row names."""
    n = int(round(v))
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >> shift and n & ((1 << shift) - 1) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def format_value(v: float) -> str:
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2g}"


def _y_ticks(lo: float, hi: float) -> List[float]:
    """Decades, with 2x and 5x steps when the range spans at most three decades."""
    lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1, 2, 5) if hi_e - lo_e <= 3 else (1,)
    ticks = [m * 10.0 ** e for e in range(lo_e, hi_e + 1) for m in steps]
    return [t for t in ticks if lo <= t <= hi]


def machine() -> str:
    """The CPU model from /proc/cpuinfo (the architecture where there is none) and the logical cores."""
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model", "cpu model")) and ":" in line:
                    model = " ".join(line.split(":", 1)[1].split()) or None
                    break
    except OSError:
        pass
    return f"{model or os.uname().machine}, {os.cpu_count()} cores"


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def line_chart(title: str, x_label: str, y_label: str, series: Dict[str, Points], caption: str,
               x_format: Callable[[float], str] = format_size, legend_at: str = "upper right") -> str:
    """An SVG document: one line with point markers per entry of ``series`` (name -> (x, y) points), both
    axes logarithmic, ``caption`` (machine, date, plan) under the plot. Points that cannot go on a log axis
    (missing, zero, negative, not finite) are left out; a series without points is not drawn. Raises
    ``ValueError`` when no series has a point."""
    clean: Dict[str, List[Tuple[float, float]]] = {}
    for name, pts in series.items():
        ok = sorted((float(x), float(y)) for x, y in pts
                    if x is not None and y is not None and x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y))
        if ok:
            clean[name] = ok
    if not clean:
        raise ValueError(f"chart {title!r} has no points")
    xs = sorted({x for pts in clean.values() for x, _ in pts})
    ys = [y for pts in clean.values() for _, y in pts]
    # Room on each side, and headroom above the data (about a third of the height) for the legend.
    x0, x1 = xs[0] / 1.5, xs[-1] * 1.5
    y0, y1 = min(ys) / 1.5, max(ys) * max(4.0, max(ys) / min(ys)) ** 0.45
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + pw * (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))

    def py(y: float) -> float:
        return TOP + ph * (1 - (math.log(y) - math.log(y0)) / (math.log(y1) - math.log(y0)))

    def text(x: float, y: float, s: str, size: int = 13, anchor: str = "start", extra: str = "") -> str:
        return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="sans-serif" font-size="{size}" '
                f'text-anchor="{anchor}"{extra}>{escape(s)}</text>')

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}">',
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
           text(WIDTH / 2, 28, title, 20, "middle")]
    # Grid, ticks and their labels: x at every measured size, y at decades (and 2x, 5x over short ranges).
    for x in xs:
        out.append(f'<line x1="{px(x):.1f}" y1="{TOP}" x2="{px(x):.1f}" y2="{TOP + ph}" stroke="#ebebeb"/>')
        out.append(text(px(x), TOP + ph + 18, x_format(x), 12, "middle"))
    for y in _y_ticks(y0, y1):
        out.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + pw}" y2="{py(y):.1f}" stroke="#ebebeb"/>')
        out.append(text(LEFT - 6, py(y) + 4, format_value(y), 12, "end"))
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#000000"/>')
    out.append(text(LEFT + pw / 2, TOP + ph + 42, x_label, 14, "middle"))
    out.append(text(20, TOP + ph / 2, y_label, 14, "middle",
                    f' transform="rotate(-90 20 {TOP + ph / 2:.1f})"'))
    for i, (name, pts) in enumerate(clean.items()):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<g><title>{escape(name)}</title>'
                   f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in pts)
        out.append("</g>")
    # Legend: a sample line and the name of each series.
    lw = 44 + 8 * max(len(n) for n in clean)
    lh = 10 + 20 * len(clean)
    lx = LEFT + 12 if "left" in legend_at else LEFT + pw - lw - 12
    ly = TOP + 12 if "upper" in legend_at else TOP + ph - lh - 12
    out.append(f'<rect x="{lx}" y="{ly}" width="{lw}" height="{lh}" fill="#ffffff" fill-opacity="0.85" '
               f'stroke="#a0a0a0"/>')
    for i, name in enumerate(clean):
        yy = ly + 20 * i + 15
        out.append(f'<line x1="{lx + 8}" y1="{yy - 4}" x2="{lx + 32}" y2="{yy - 4}" '
                   f'stroke={quoteattr(COLOURS[i % len(COLOURS)])} stroke-width="2"/>')
        out.append(text(lx + 38, yy, name, 13))
    out.append(text(14, HEIGHT - 12, caption, 12, extra=' fill="#3c3c3c"'))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(path: str, svg: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(svg)

