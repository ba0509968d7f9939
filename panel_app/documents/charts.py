"""Charts as SVG, drawn on the server so that the same picture shows on the page and in the PDF.

Bar and line charts come from pygal; pygal has no heat map, so that one is a small SVG template of
our own (a grid of shaded squares with their numbers written in). Each chart is handed out as a
``data:`` URL for an ``<img>``: no script runs in an image, the page's content security policy
allows it, and the PDF helper reads it without fetching anything. Every chart stands beside a table
of the same figures for screen-reader users.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Sequence

import pygal
from flask import render_template
from pygal.style import Style

# pygal adds an import hook for its map plugins that Python 3.11 warns about on every later failed
# import (it has no find_spec). We use no map plugin: take the hook out again.
sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__name__ != "PluginImportFixer"]

PALETTE = Style(
    background="white", plot_background="white", foreground="#0b0c0c", foreground_strong="#0b0c0c",
    foreground_subtle="#505a5f", colors=("#1d70b8", "#00703c", "#d4351c", "#f47738", "#4c2c92", "#505a5f"),
    font_family="DejaVu Sans, Arial, sans-serif", label_font_size=13, major_label_font_size=13,
    legend_font_size=14, title_font_size=16, value_font_size=12,
)


def data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _config(title: str) -> dict[str, object]:
    return {"title": title, "style": PALETTE, "js": [], "disable_xml_declaration": True, "width": 800,
            "height": 400, "legend_at_bottom": True, "print_values": False, "show_y_guides": True}


def line_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[int]]) -> str:
    chart = pygal.Line(**_config(title), x_label_rotation=30, min_scale=1)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return data_url(chart.render())


def bar_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[int]], *, horizontal: bool = False) -> str:
    kind = pygal.HorizontalBar if horizontal else pygal.Bar
    chart = kind(**_config(title), x_label_rotation=0 if horizontal else 30)
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, list(values))
    return data_url(chart.render())


def heat_map(title: str, rows: Sequence[str], columns: Sequence[str], values: Sequence[Sequence[int]]) -> str:
    """A grid: one row per area, one column per pathway, each square shaded by its count."""
    highest = max((v for row in values for v in row), default=0)
    svg = render_template("charts/heat_map.svg", title=title, rows=list(rows), columns=list(columns),
                          values=[list(row) for row in values], highest=highest)
    return data_url(svg)
