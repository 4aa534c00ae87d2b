"""Charts drawn on the server as inline SVG by pygal, so a report page needs no script and nothing from outside.

pygal writes a <script> (its tooltips' settings) and a <style> into every chart, and one style attribute on the
tooltip; the app's Content-Security-Policy allows neither inline scripts nor inline styles, so each chart is
cleaned as it is drawn (an xml filter) and the chart style pygal would have written is served once, as a
stylesheet of ours (chart_css, its selectors made `.kpi-chart` instead of one chart's id).

Readable without colour: each chart has one series, its values written on it, except the ready times (p50 and
p90), drawn as a full line with filled dots and a dashed line with hollow dots (static/css/comptoir.css) and named
so in the legend. Each chart's numbers are also in a table next to it, for screen readers and for reading.
"""

import html
import re
import sys
from functools import cache

import pygal
from markupsafe import Markup
from pygal.style import Style

# pygal puts a finder for its map plugins (unused here) on sys.meta_path with only the old find_module API, so every
# import that reaches it afterwards warns (ImportWarning) on Python 3.11+: it is taken off again.
sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__name__ != "PluginImportFixer"]

STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1f2933",
    foreground_strong="#111827",
    foreground_subtle="#616e7c",
    colors=("#1d4ed8", "#9a3412"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=16,
    major_label_font_size=16,
    value_font_size=16,
    value_label_font_size=16,
    legend_font_size=16,
    title_font_size=18,
    no_data_font_size=24,
    opacity="0.9",
    opacity_hover="0.9",
    stroke_width="3",
    stroke_width_hover="3",
    transition="0s",
)

BASE = {
    "style": STYLE,
    "js": [],
    "css": [],
    "disable_xml_declaration": True,
    "explicit_size": False,
    "width": 800,
    "height": 380,
    "margin": 12,
    "show_legend": False,
    "print_values": True,
    "print_zeroes": True,
    "truncate_label": -1,
    "truncate_legend": -1,
    "dots_size": 5,
}


def _cleaner(chart_id: str, label: str, extra_class: str):
    """An xml filter: no script, style, comments or tooltip; an id, our class and a name for assistive technology
    (the numbers themselves are in the table beside the chart)."""

    def clean(root):
        for parent in root.iter():
            for child in list(parent):
                tag = child.tag if isinstance(child.tag, str) else ""
                kind = tag.rsplit("}", 1)[-1]
                if not tag or kind in {"script", "style"} or "tooltip-overlay" in (child.get("class") or ""):
                    parent.remove(child)
        root.set("id", chart_id)
        root.set("class", f"pygal-chart kpi-chart {extra_class}".strip())
        root.set("role", "img")
        root.set("aria-label", label)
        for child in root:
            if child.tag.rsplit("}", 1)[-1] == "title":
                child.text = label  # pygal's is "Pygal" when the chart has no title drawn
        return root

    return clean


def _draw(chart, chart_id: str, label: str, extra_class: str = "") -> Markup:
    chart.add_xml_filter(_cleaner(chart_id, label, extra_class))
    return Markup(chart.render(is_unicode=True))  # noqa: S704 (pygal escapes every text it writes)


def _config(no_data: str, **options) -> dict:
    return {**BASE, "no_data_text": no_data, **options}


def bars(chart_id: str, label: str, labels: list[str], values: list, no_data: str, formatter=None) -> Markup:
    """Vertical bars over time (or over stores), values written above the bars."""
    chart = pygal.Bar(**_config(no_data, print_values_position="top", x_label_rotation=-30 if len(labels) > 8 else 0))
    chart.x_labels = labels
    chart.add(label, values, formatter=formatter)
    return _draw(chart, chart_id, label)


def horizontal_bars(chart_id: str, label: str, labels: list[str], values: list, no_data: str, formatter=None) -> Markup:
    """Horizontal bars for a breakdown (reasons, products, stores): names on the left, values on the bars."""
    height = max(200, 60 + 44 * len(labels))
    chart = pygal.HorizontalBar(**_config(no_data, height=height, print_values_position="top"))
    chart.x_labels = labels
    chart.add(label, values, formatter=formatter)
    return _draw(chart, chart_id, label)


def lines(chart_id: str, label: str, labels: list[str], series: list[tuple[str, list]], no_data: str, **options):
    """One or two lines over time: the first full with filled dots, the second dashed with hollow dots (the page
    names them so beside the chart); values are written on the dots when there are few enough to read."""
    chart = pygal.Line(
        **_config(
            no_data,
            print_values=len(labels) <= (14 if len(series) == 1 else 7),
            print_values_position="top",
            x_label_rotation=-30 if len(labels) > 8 else 0,
            allow_interruptions=True,
            **options,
        )
    )
    chart.x_labels = labels
    for name, values in series:
        chart.add(name, values)
    return _draw(chart, chart_id, label, "two-lines" if len(series) > 1 else "")


@cache
def chart_css() -> str:
    """The stylesheet pygal would write into each chart, for our style, once for every chart of class kpi-chart."""
    chart = pygal.Line(**{key: value for key, value in BASE.items() if key != "css"})  # with pygal's style sheets
    chart.add("a", [1, 2])
    chart.add("b", [2, 1])
    svg = chart.render(is_unicode=True)
    css = html.unescape(re.search(r"<style[^>]*>(.*?)</style>", svg, re.S).group(1))  # as XML text: "&gt;"
    return re.sub(r"#chart-[0-9a-f-]+", ".kpi-chart", css)
