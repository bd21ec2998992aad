"""Dated leader reports: the dashboard's figures as a PDF document, or a widget as PNG.

The PDF is laid out by a QTextDocument (tables, headings, the chart image) and printed
through QPdfWriter, which embeds the subset of the CJK font it used, so the report reads
the same on a machine without Noto CJK and its text can be searched and extracted.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMarginsF, QSizeF, QUrl
from PySide6.QtGui import (
    QFont,
    QImage,
    QPageLayout,
    QPageSize,
    QPdfWriter,
    QTextDocument,
)
from PySide6.QtWidgets import QWidget

from console.charts.enterprise_file import local_time_text
from console.shell.i18n import tr

REPORT_FONT = "Noto Sans CJK SC"
CHART_RESOURCE = "dashboard-charts.png"
PDF_RESOLUTION = 150
"""Dots per inch of the PDF's layout: the unit of widths in the report's HTML."""


def _page_layout() -> QPageLayout:
    return QPageLayout(
        QPageSize(QPageSize.PageSizeId.A4),
        QPageLayout.Orientation.Portrait,
        QMarginsF(15, 15, 15, 15),
        QPageLayout.Unit.Millimeter,
    )


def text_width() -> int:
    """Width of the report's text column in layout pixels (A4 less margins, at 150 dpi)."""
    page = _page_layout().paintRectPixels(PDF_RESOLUTION).width()
    return int(page - 2 * QTextDocument().documentMargin())


def duration_text(seconds: Any) -> str:
    """A median duration in hours and minutes; missing values as a dash."""
    if seconds is None:
        return "—"
    minutes = round(float(seconds) / 60)
    hours, minutes = divmod(minutes, 60)
    return tr("{hours} h {minutes} min", hours=hours, minutes=minutes)


def rate_text(value: Any) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%"


def _e(value: Any) -> str:
    return html.escape(str(value))


def district_headers() -> list[str]:
    """Column headings of the per-district table, shared by the dashboard and the report."""
    return [
        tr("District"),
        tr("Complaints received"),
        tr("Complaints closed"),
        tr("Open cases"),
        tr("Overdue cases"),
        tr("Median verification time"),
        tr("Median closure time"),
        tr("Transmission rate"),
        tr("Compliance rate"),
    ]


def report_html(
    figures: Mapping[str, Any], days: int, *, with_chart: bool, chart_width: int = 1000
) -> str:
    """The report body for a ``dashboard.districts`` reply (pure; no Qt needed).

    ``chart_width``: the chart image's width in layout pixels (:func:`text_width` fills the
    column; the height follows the image's proportions).
    """
    generated = local_time_text(figures.get("generated_at"))
    headers = district_headers()
    rows = "".join(
        f"<tr><td>{_e(d['name'])}</td>"
        + "".join(
            f"<td align='right'>{_e(cell)}</td>"  # figures line up on their last digit
            for cell in (
                d["complaints_received"],
                d["complaints_closed"],
                d["open"],
                d["overdue"],
                duration_text(d.get("median_verification_s")),
                duration_text(d.get("median_closure_s")),
                rate_text(d.get("transmission_rate")),
                rate_text(d.get("compliance_rate")),
            )
        )
        + "</tr>"
        for d in figures.get("districts", [])
    )
    ranking = "".join(
        f"<tr><td align='right'>{index}</td><td>{_e(e['name'])}</td>"
        f"<td align='right'>{float(e['score']):.0f}</td></tr>"
        for index, e in enumerate(figures.get("enterprise_ranking", [])[:10], start=1)
    )
    parts = [
        f"<h1>{_e(tr('Enforcement supervision report'))}</h1>",
        "<p>"
        + _e(tr("Period: last {days} days; generated {at}", days=days, at=generated))
        + "</p>",
        f"<h2>{_e(tr('Complaints and cases by district'))}</h2>",
        "<table border='1' cellspacing='0' cellpadding='4' width='100%'><tr>"
        + "".join(f"<th>{_e(h)}</th>" for h in headers)
        + f"</tr>{rows}</table>",
    ]
    if with_chart:
        parts += [
            f"<h2>{_e(tr('Trends and categories'))}</h2>",
            f"<p><img src='{CHART_RESOURCE}' width='{int(chart_width)}'></p>",
        ]
    parts.append(f"<h2>{_e(tr('Enterprise authenticity ranking'))}</h2>")
    if ranking:
        parts.append(
            "<table border='1' cellspacing='0' cellpadding='4'><tr>"
            + f"<th>{_e(tr('Rank'))}</th><th>{_e(tr('Enterprise'))}</th>"
            + f"<th>{_e(tr('Score'))}</th></tr>{ranking}</table>"
        )
    else:  # a table of headings alone read like a printing fault
        parts.append(f"<p>{_e(tr('No enterprise has an authenticity score for this period.'))}</p>")
    return "\n".join(parts)


def write_pdf(
    path: Path, body: str, title: str, images: Mapping[str, QImage] | None = None
) -> Path:
    """Print an HTML ``body`` to an A4 PDF with the CJK font embedded; returns ``path``.

    ``images`` are named resources the HTML refers to with ``<img src=name>``.
    """
    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator("enforcement-console")
    writer.setResolution(PDF_RESOLUTION)
    writer.setPageLayout(_page_layout())
    document = QTextDocument()
    font = QFont(REPORT_FONT)
    font.setPointSizeF(9.0)
    document.setDefaultFont(font)
    for name, image in (images or {}).items():
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
    document.setHtml(body)
    rect = writer.pageLayout().paintRectPixels(writer.resolution())
    document.setPageSize(QSizeF(rect.width(), rect.height()))
    document.print_(writer)
    del writer  # finishes the file
    if not path.is_file() or path.stat().st_size == 0:
        raise OSError(f"could not write the PDF file {path}")
    return path


def export_pdf(
    path: Path, figures: Mapping[str, Any], days: int, chart: QImage | None = None
) -> Path:
    """Write the dated dashboard report as a PDF, with the charts image if given (as wide as
    the text; give it at twice the screen's pixels or more, or it prints soft)."""
    with_chart = chart is not None and not chart.isNull()
    return write_pdf(
        path,
        report_html(figures, days, with_chart=with_chart, chart_width=text_width()),
        tr("Enforcement supervision report"),
        {CHART_RESOURCE: chart} if chart is not None and with_chart else None,
    )


def export_png(widget: QWidget, path: Path) -> Path:
    """Save what ``widget`` shows as a PNG; returns ``path``."""
    if not widget.grab().save(str(path), "PNG"):
        raise OSError(f"could not write the PNG image to {path}")
    return path


def default_report_name(now: datetime | None = None) -> str:
    """File name stem of a report dated today, e.g. ``supervision-report-2026-03-01``."""
    return f"supervision-report-{(now or datetime.now()).strftime('%Y-%m-%d')}"
