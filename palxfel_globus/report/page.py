"""The report as one self-contained HTML file: the style inline, the charts inline SVG, no script, no network.

It opens from a USB stick or a shared disk in any browser, reads on a phone (one column, tables that scroll
sideways inside their own box) and prints (two charts a row, nothing split across pages where it can be helped).
Every name from the ledger is escaped: a scan may be called anything the DAQ allows.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from palxfel_globus.report import charts
from palxfel_globus.report.figures import Figures
from palxfel_globus.report.words import duration, recovery_sentences, text
from palxfel_globus.units import format_size

STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans KR", "Nanum Gothic", "Apple SD Gothic Neo",
  "Malgun Gothic", sans-serif; margin: 0 auto; max-width: 64rem; padding: 1rem; line-height: 1.45; color: #1a1a1a; }
h1 { font-size: 1.5rem; margin: .5rem 0; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #ccc; }
h3 { font-size: 1rem; margin: .25rem 0; }
p { margin: .3rem 0; }
.lead, .meta { color: #555; font-size: .9rem; }
.recovery li { margin: .2rem 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 26rem), 1fr)); gap: 1.5rem; }
figure.chart { margin: 0; break-inside: avoid; }
figure.chart svg { width: 100%; height: auto; display: block; }
svg text { font-size: 13px; fill: #333; }
svg .empty { font-size: 16px; fill: #777; }
svg .grid { stroke: #ddd; stroke-width: 1; }
.legend { list-style: none; padding: 0; margin: .3rem 0 0; display: flex; flex-wrap: wrap; gap: .2rem 1rem;
  font-size: .85rem; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .35em; border-radius: 2px;
  vertical-align: -.05em; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .9rem; min-width: 100%; }
th, td { padding: .25rem .5rem; border-bottom: 1px solid #e4e4e4; text-align: right; }
td { white-space: nowrap; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
td.text { white-space: normal; min-width: 16rem; }
.name { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85rem; }
tr.total td { font-weight: 600; border-top: 2px solid #999; }
.warn { color: #a30000; }
@media (max-width: 40rem) { body { padding: .5rem; } table { font-size: .8rem; } td.text { min-width: 12rem; } }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; }
  section, figure, tr { break-inside: avoid; }
  .charts { grid-template-columns: 1fr 1fr; }
  .table-wrap { overflow: visible; }
}
"""


def render(figures: Figures, language: str = "en") -> str:
    """The page, in ``language`` ("en" or "ko")."""

    def say(key: str, **values: object) -> str:
        return escape(text(key, language, **values))

    when = datetime.fromtimestamp(figures.generated_at).astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{language}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{say('title')}: {escape(figures.daq_root)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{say('title')}</h1>",
        f'<p class="meta">{say("generated", when=when, host=figures.host, root=figures.daq_root)} '
        f"{say('window', days=figures.days)}</p>",
        "</header>",
        _recovery(figures, language),
        _charts(figures, language),
        _people(figures, language),
        _experiments(figures, language),
        _destinations(figures, language),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _recovery(figures: Figures, language: str) -> str:
    lines = recovery_sentences(figures.recovery, language)
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return (
        f'<section class="recovery"><h2>{escape(text("recovery", language))}</h2>'
        f'<p class="lead">{escape(text("recovery_lead", language))}</p><ul>{items}</ul></section>'
    )


def _day_label(moment: float, hours: bool = False) -> str:
    return datetime.fromtimestamp(moment).strftime("%m-%d %H:%M" if hours else "%m-%d")


def _charts(figures: Figures, language: str) -> str:
    empty = text("no_data", language)
    short = figures.days <= 2
    backlog = charts.line_chart(
        "backlog",
        text("backlog", language),
        [_day_label(moment, short) for moment in figures.backlog_times],
        figures.backlog,
        lambda value: f"{value:,.0f}",
        empty,
    )
    names = {place.label: _place_name(place) for place in figures.places}
    volume = charts.bar_chart(
        "bytes_per_day",
        text("bytes_per_day", language),
        [_day_label(moment) for moment in figures.day_starts],
        {names[label]: values for label, values in figures.bytes_per_day.items()},
        lambda value: format_size(int(value)),
        empty,
    )
    waits = charts.bar_chart(
        "waits",
        text("wait_distribution", language),
        _bin_labels(figures.wait_bins, language),
        figures.waits,
        lambda value: f"{value:,.0f}",
        empty,
        slanted=True,
    )
    shown = figures.failures[:10]
    rest = sum(count for _reason, count in figures.failures[10:])
    failures = charts.stacked_rows(
        "failures",
        text("failures", language),
        [(reason, [count]) for reason, count in shown] + ([(text("others", language), [rest])] if rest else []),
        [text("count", language)],
        lambda value: f"{value:,.0f}",
        empty,
    )
    kinds = ("verified_copies", "waiting", "released", "blocked", "quarantined", "failed")
    states = charts.stacked_rows(
        "states",
        text("states", language),
        [(names[place.label], [_place_count(place, kind) for kind in kinds]) for place in figures.places],
        [text(kind, language) for kind in kinds],
        lambda value: f"{value:,.0f}",
        text("destinations_none", language),
    )
    sections = [
        ("backlog", "backlog_lead", backlog),
        ("bytes_per_day", "bytes_per_day_lead", volume),
        ("wait_distribution", "wait_lead", waits),
        ("failures", "failures_lead", failures),
        ("states", "states_lead", states),
    ]
    cells = "".join(
        f'<div><h3>{escape(text(title, language))}</h3><p class="lead">{escape(text(lead, language))}</p>{chart}</div>'
        for title, lead, chart in sections
    )
    return f'<section><div class="charts">{cells}</div></section>'


def _place_name(place: Any) -> str:
    return f"{place.base_path} · {place.collection[:8]}"


def _place_count(place: Any, kind: str) -> int:
    """Scans of a destination by kind: its verified copies; its route's other scans by state (a waiting one is
    counted where it has no verified copy yet)."""
    if kind == "verified_copies":
        return place.counts.get("verified", 0)
    if kind == "waiting":
        return place.waiting
    return place.counts.get(kind, 0)


def _bin_labels(bounds: tuple[int, ...], language: str) -> list[str]:
    labels = [f"<{duration(bounds[0], language)}"]
    labels += [f"{duration(low, language)}–{duration(high, language)}" for low, high in zip(bounds, bounds[1:])]
    return labels + [f">{duration(bounds[-1], language)}"]


def _table(headers: list[str], rows: list[list[str]], text_columns: tuple[int, ...] = (), total: bool = False) -> str:
    """A table in a box that scrolls sideways on a narrow screen (its last row a total, with ``total``); the cells
    are escaped HTML already."""

    def cells(tag: str, row: list[str]) -> str:
        return "".join(
            f"<{tag}{' class=text' if index in text_columns else ''}>{cell}</{tag}>" for index, cell in enumerate(row)
        )

    body = [f"<tr>{cells('td', row)}</tr>" for row in rows]
    if total and body:
        body[-1] = body[-1].replace("<tr>", '<tr class="total">', 1)
    table = f"<table><thead><tr>{cells('th', headers)}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="table-wrap">{table}</div>'


def _experiments(figures: Figures, language: str) -> str:
    columns = ("complete", "waiting", "shipped", "released", "blocked", "quarantined", "failed")
    headers = [escape(text("experiment", language))] + [escape(text(column, language)) for column in columns]
    rows = [
        [f'<span class="name">{escape(entry["experiment"])}</span>'] + [f"{entry[column]:,}" for column in columns]
        for entry in figures.experiments
    ]
    rows.append([escape(text("total", language))] + [f"{figures.totals[column]:,}" for column in columns])
    notes = []
    if figures.experiments_cut:
        notes.append(text("experiments_cut", language, count=figures.experiments_cut))
    if figures.experiments_hidden:
        notes.append(text("experiments_hidden", language, count=figures.experiments_hidden))
    extra = "".join(f'<p class="lead">{escape(note)}</p>' for note in notes)
    lead = f'<p class="lead">{escape(text("experiments_lead", language))}</p>'
    title = f"<h2>{escape(text('experiments', language))}</h2>"
    return f"<section>{title}{lead}{_table(headers, rows, total=True)}{extra}</section>"


def _destinations(figures: Figures, language: str) -> str:
    title = f"<h2>{escape(text('destinations', language))}</h2>"
    if not figures.places:
        return f'<section>{title}<p class="lead">{escape(text("destinations_none", language))}</p></section>'
    keys = ("route", "verified_copies", "verified_bytes", "in_window", "waiting", "released", "blocked", "quarantined")
    headers = [escape(text("destination", language))] + [escape(text(key, language)) for key in keys]
    rows = []
    for place in figures.places:
        rows.append(
            [
                f'<span class="name">{escape(place.base_path)}<br>{escape(place.collection)}</span>',
                f'<span class="name">{escape(place.route)}</span>',
                f"{place.counts.get('verified', 0):,}",
                escape(format_size(place.verified_bytes)),
                f"{place.verified_in_window:,}",
                f"{place.waiting:,}",
                *(f"{place.counts.get(state, 0):,}" for state in ("released", "blocked", "quarantined")),
            ]
        )
    return f"<section>{title}{_table(headers, rows)}</section>"


def _people(figures: Figures, language: str) -> str:
    title = f"<h2>{escape(text('need_a_person', language))}</h2>"
    if not figures.need_a_person:
        return f'<section>{title}<p class="lead">{escape(text("need_a_person_none", language))}</p></section>'
    headers = [escape(text(key, language)) for key in ("scan", "state", "reason")]
    rows = [
        [f'<span class="name">{escape(row["scan"])}</span>', escape(row["state"]), escape(row["reason"])]
        for row in figures.need_a_person
    ]
    more = ""
    if figures.need_a_person_cut:
        more = f'<p class="lead">{escape(text("need_a_person_cut", language, count=figures.need_a_person_cut))}</p>'
    return f"<section>{title}{_table(headers, rows, text_columns=(2,))}{more}</section>"
