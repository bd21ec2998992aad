"""一企一档: the enterprise file panel, one page per enterprise from the hub's ``enterprise.file``.

An officer opens it before an inspection (domain workflow step 4): basic information, permit
limits, credit history, online-monitoring quality, the authenticity score with its reasons,
cameras, complaints, enforcement history and documents. The panel renders the hub's reply as
one HTML page (a QTextBrowser): it prints, copies and scrolls like a document, which is what
the file is. It holds no state beyond the reply it shows.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.charts.findings import check_label, finding_texts, pollutant_namer
from console.hub.client import HubError
from console.shell.domain_labels import industry_label
from console.shell.hub_errors import error_text
from console.shell.i18n import format_date, format_datetime, tr
from console.shell.session import Session

FILE_METHOD = "enterprise.file"
TASK_METHOD = "task.get"


def credit_label(rating: str) -> str:
    """Translated environmental credit rating (Zhejiang's five colours)."""
    labels = {
        "green": tr("Green (trustworthy)"),
        "blue": tr("Blue (good)"),
        "yellow": tr("Yellow (warning)"),
        "red": tr("Red (poor)"),
        "black": tr("Black (seriously untrustworthy)"),
    }
    return labels.get(rating, rating)


def code_label(code: Any) -> str:
    """Translated complaint category, task kind or task state (other codes as given)."""
    labels = {
        "water": tr("Water"),
        "air": tr("Air"),
        "noise": tr("Noise"),
        "solid_waste": tr("Solid waste"),
        "odour": tr("Odour"),
        "other": tr("Other"),
        "verification": tr("Verification"),
        "enforcement": tr("Enforcement"),
        "assigned": tr("Assigned"),
        "delivered": tr("Delivered"),
        "accepted": tr("Accepted"),
        "en_route": tr("En route"),
        "on_site": tr("On site"),
        "verified_confirmed": tr("Verified: confirmed"),
        "verified_unfounded": tr("Verified: unfounded"),
        "procedure_complete": tr("Procedure complete"),
        "closed": tr("Closed"),
        "archived": tr("Archived"),
        "cancelled": tr("Cancelled"),
    }
    return labels.get(str(code), str(code))


def percent(value: Any) -> str:
    """A 0..1 rate as a percentage; missing values as a dash."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%"


def local_time_text(value: Any) -> str:
    """An ISO time from the hub in local time, minutes precision; other values as given."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return format_date(moment)
    return format_datetime(moment)


def district_names(snapshot: Mapping[str, Any]) -> dict[str, str]:
    """Adcode -> district name from a world snapshot."""
    return {str(d["adcode"]): str(d["name"]) for d in snapshot.get("districts", [])}


def _e(value: Any) -> str:
    return html.escape("—" if value is None or value == "" else str(value))


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], figures: Sequence[int] = ()
) -> str:
    """A bordered table; the ``figures`` columns right-aligned, so they line up by digit."""
    if not rows:
        return f"<p class='none'>{_e(tr('None recorded'))}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(_figure(c) if i in figures else f"<td>{_e(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table border='1' cellspacing='0' cellpadding='3'><tr>{head}</tr>{body}</table>"


def _figure(value: Any, css: str = "") -> str:
    """A right-aligned table cell."""
    return f"<td align='right'{css}>{_e(value)}</td>"


def kg_text(value: Any) -> str | None:
    """A mass in kilograms as the file prints it: thousands grouped, one decimal."""
    return None if value is None else f"{float(value):,.1f}"


QUOTA_WARNING_SHARE = 0.8
"""As the hub's alarm engine: a total-quantity warning at 80 % of the quota."""


def _quota_cells(quota: Any, used: Any) -> str:
    """Quota, used and share cells; the share orange from 80 %, red from 100 %."""
    if quota is None or not float(quota):
        return _figure(kg_text(quota)) + _figure(None) + _figure(None)
    share = float(used or 0.0) / float(quota)
    css = ""
    if share >= 1.0:
        css = " class='low'"
    elif share >= QUOTA_WARNING_SHARE:
        css = " class='warn'"
    return _figure(kg_text(quota)) + _figure(kg_text(used or 0.0)) + _figure(percent(share), css)


def _quota_html(quota: Mapping[str, Any]) -> str:
    """Total-quantity control (刷卡排污): discharge so far against the annual and monthly quota."""
    items = quota.get("items") or []
    title = tr(
        "Total-quantity control, {year} and month {month}",
        year=quota.get("year", "—"),
        month=quota.get("month", "—"),
    )
    head = [
        tr("Outlet"),
        tr("Pollutant"),
        tr("Annual quota (kg)"),
        tr("Used this year (kg)"),
        tr("Share"),
        tr("Monthly quota (kg)"),
        tr("Used this month (kg)"),
        tr("Share"),
    ]
    if not items:
        return f"<h3>{_e(title)}</h3>" + _table(head, [])
    rows = [
        "<tr>"
        + f"<td>{_e(item.get('outlet_name'))}</td>"
        + f"<td>{_e(item.get('name') or item.get('code'))}</td>"
        + _quota_cells(item.get("annual_quota_kg"), item.get("used_year_kg"))
        + _quota_cells(item.get("monthly_quota_kg"), item.get("used_month_kg"))
        + "</tr>"
        for item in items
    ]
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (
        f"<h3>{_e(title)}</h3><table border='1' cellspacing='0' cellpadding='3'>"
        f"<tr>{header}</tr>{''.join(rows)}</table>"
    )


def section_titles() -> list[str]:
    """The file's sections in page order (translated); tests and the outline use them."""
    return [
        tr("Basic information"),
        tr("Outlets and permitted limits"),
        tr("Credit rating history"),
        tr("Online monitoring"),
        tr("Data authenticity"),
        tr("Cameras"),
        tr("Complaints"),
        tr("Enforcement history"),
        tr("Documents"),
    ]


def render_file_html(file: Mapping[str, Any], districts: Mapping[str, str]) -> str:
    """The enterprise file as an HTML page (pure function of the hub's reply)."""
    e = file["enterprise"]
    titles = section_titles()
    parts = [
        "<style>h2{background:#e8eef5;padding:2px;} td,th{font-size:small;} "
        ".none{color:#777;} .low{color:#b3261e;font-weight:bold;} "
        ".warn{color:#b86e00;font-weight:bold;}</style>",
        f"<h1>{_e(e['name'])}</h1>",
    ]
    adcode = str(e.get("district_adcode", ""))
    basic = [
        (tr("Unified social credit code"), e.get("credit_code")),
        (tr("Industry"), industry_label(str(e.get("industry", "")))),
        (tr("District"), districts.get(adcode, adcode)),
        (tr("Grid"), e.get("grid_id")),
        (tr("Address"), e.get("address")),
        (tr("Coordinates"), f"{float(e['lon']):.6f}, {float(e['lat']):.6f}"),
        (tr("Key enterprise"), tr("Yes") if e.get("is_key") else tr("No")),
        (tr("Discharge permit"), e.get("permit_no")),
        (tr("Credit rating"), credit_label(str(e.get("credit_rating", "")))),
    ]
    parts.append(f"<h2>{_e(titles[0])}</h2>")
    parts.append(
        "<table cellpadding='2'>"
        + "".join(f"<tr><th align='left'>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in basic)
        + "</table>"
    )

    parts.append(f"<h2>{_e(titles[1])}</h2>")
    outlets = file.get("outlets", [])
    if not outlets:
        parts.append(_table([], []))
    for outlet in outlets:
        kind = tr("Wastewater") if outlet.get("kind") == "water" else tr("Flue gas")
        parts.append(f"<h3>{_e(outlet['name'])} ({_e(kind)}, MN {_e(outlet.get('mn'))})</h3>")
        rows = [
            (
                limit.get("name") or limit.get("code"),
                limit.get("code"),
                limit.get("unit"),
                limit.get("limit"),
                limit.get("lower_limit"),
                kg_text(limit.get("annual_quota_kg")),
                kg_text(limit.get("monthly_quota_kg")),
            )
            for limit in outlet.get("limits", [])
        ]
        parts.append(
            _table(
                [
                    tr("Pollutant"),
                    tr("Code"),
                    tr("Unit"),
                    tr("Limit"),
                    tr("Lower limit"),
                    tr("Annual quota (kg)"),
                    tr("Monthly quota (kg)"),
                ],
                rows,
                figures=(3, 4, 5, 6),
            )
        )

    parts.append(f"<h2>{_e(titles[2])}</h2>")
    parts.append(
        _table(
            [tr("Date"), tr("Rating"), tr("Reason")],
            [
                (local_time_text(c.get("at")), credit_label(str(c.get("rating"))), c.get("reason"))
                for c in file.get("credit_history", [])
            ],
        )
    )

    parts.append(f"<h2>{_e(titles[3])}</h2>")
    monitoring = file.get("monitoring") or {}
    days = monitoring.get("days", [])
    summary = monitoring_summary(days)
    parts.append(
        "<p>"
        + _e(
            tr(
                "Transmission rate {transmission}, effective rate {effective}, "
                "effective transmission rate {both} over {days} days; "
                "open alarms: {alarms}; last data: {last}",
                transmission=percent(summary["transmission_rate"]),
                effective=percent(summary["effective_rate"]),
                both=percent(summary["transmission_effective_rate"]),
                days=len(days),
                alarms=monitoring.get("open_alarms", 0),
                last=local_time_text(monitoring.get("last_data_at")),
            )
        )
        + "</p>"
    )
    parts.append(
        _table(
            [
                tr("Date"),
                tr("Transmission rate"),
                tr("Effective rate"),
                tr("Effective transmission"),
            ],
            [
                (
                    d.get("date"),
                    percent(d.get("transmission_rate")),
                    percent(d.get("effective_rate")),
                    percent(d.get("transmission_effective_rate")),
                )
                for d in days[-7:]
            ],
            figures=(1, 2, 3),
        )
    )
    parts.append(_quota_html(file.get("quota") or {}))

    parts.append(f"<h2>{_e(titles[4])}</h2>")
    authenticity = file.get("authenticity")
    if not authenticity:
        parts.append(f"<p class='none'>{_e(tr('Not scored yet (no hourly data)'))}</p>")
    else:
        score = float(authenticity["score"])
        css = " class='low'" if score < 60 else ""
        parts.append(
            f"<p{css}>"
            + _e(
                tr(
                    "Authenticity score {score} (scored {at})",
                    score=f"{score:.0f}",
                    at=local_time_text(authenticity.get("scored_at")),
                )
            )
            + "</p>"
        )
        checks = authenticity.get("checks") or {}
        parts.append(
            _table(
                [tr("Check"), tr("Sub-score")],
                [(check_label(k), f"{float(v):.0f}") for k, v in checks.items()],
                figures=(1,),
            )
        )
        reasons = finding_texts(authenticity, pollutant_namer(file.get("outlets") or []))
        if reasons:
            parts.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>")

    parts.append(f"<h2>{_e(titles[5])}</h2>")
    parts.append(
        _table(
            [tr("Camera"), tr("Status")],
            [
                (c.get("name"), tr("Online") if c.get("online") else tr("Offline"))
                for c in file.get("cameras", [])
            ],
        )
    )

    parts.append(f"<h2>{_e(titles[6])}</h2>")
    parts.append(
        _table(
            [tr("Received"), tr("Category"), tr("Status"), tr("Number")],
            [
                (
                    local_time_text(c.get("received_at")),
                    code_label(c.get("category")),
                    code_label(c.get("status")),
                    c["id"],
                )
                for c in file.get("complaints", [])
            ],
        )
    )

    parts.append(f"<h2>{_e(titles[7])}</h2>")
    parts.append(
        _table(
            [tr("Created"), tr("Kind"), tr("State"), tr("Number")],
            [
                (
                    local_time_text(t.get("created_at")),
                    code_label(t.get("kind")),
                    code_label(t.get("state")),
                    t["id"],
                )
                for t in file.get("tasks", [])
            ],
        )
    )

    parts.append(f"<h2>{_e(titles[8])}</h2>")
    kinds = {
        "permit": tr("Discharge permit"),
        "eia": tr("Environmental impact assessment"),
        "other": tr("Other"),
    }
    parts.append(
        _table(
            [tr("Issued"), tr("Kind"), tr("Title")],
            [
                (
                    local_time_text(d.get("issued_at")),
                    kinds.get(str(d.get("kind")), d.get("kind")),
                    d.get("title"),
                )
                for d in file.get("documents", [])
            ],
        )
    )
    return "\n".join(parts)


def monitoring_summary(days: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Mean of each daily rate over the days that have it (None when no day has it)."""
    result: dict[str, float | None] = {}
    for key in ("transmission_rate", "effective_rate", "transmission_effective_rate"):
        values = [float(d[key]) for d in days if d.get(key) is not None]
        result[key] = sum(values) / len(values) if values else None
    return result


class EnterpriseFilePanel(QWidget):
    """The 一企一档 page of one enterprise, chosen from the map, a search or a task."""

    sig_loaded = Signal(object)
    """The hub's ``enterprise.file`` reply (dict) for the shown enterprise arrived."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.enterprise_id = ""
        self.file: dict[str, Any] | None = None
        self._token = 0
        self.search = QComboBox()
        self.search.setEditable(True)
        self.search.setToolTip(tr("Search enterprises by name"))
        editor = self.search.lineEdit()
        if editor is not None:
            editor.setPlaceholderText(tr("Search enterprises by name"))
        self.search.activated.connect(self._on_search_chosen)
        self.refresh_button = QPushButton(tr("Refresh"))
        self.refresh_button.clicked.connect(self.reload)
        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.refresh_button)
        self.page = QTextBrowser()
        self.page.setOpenLinks(False)
        self.status = QLabel(tr("No enterprise selected"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.page, 1)
        layout.addWidget(self.status)
        self.set_snapshot(session.snapshot)

    def set_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Offer the snapshot's enterprises in the search box."""
        self.search.clear()
        for enterprise in sorted(snapshot.get("enterprises", []), key=lambda e: str(e["name"])):
            self.search.addItem(str(enterprise["name"]), str(enterprise["id"]))
        self.search.setCurrentIndex(-1)

    def show_enterprise(self, enterprise_id: str) -> None:
        """Fetch and show the file of ``enterprise_id``."""
        self.enterprise_id = enterprise_id
        self.search.setCurrentIndex(self.search.findData(enterprise_id))
        self.reload()

    def show_task(self, task_id: str) -> None:
        """Show the file of the enterprise a task concerns (tasks without one are ignored)."""
        hub = self.session.hub
        if not task_id or hub is None:
            return

        def on_task(reply: Any) -> None:
            enterprise_id = (reply.get("task") or {}).get("enterprise_id")
            if enterprise_id:
                self.show_enterprise(str(enterprise_id))

        hub.request(TASK_METHOD, {"task_id": task_id}, on_result=on_task, on_error=self._on_error)

    def reload(self) -> None:
        """Ask the hub again for the shown enterprise's file."""
        if not self.enterprise_id:
            return
        hub = self.session.hub
        if hub is None:
            self.status.setText(tr("Not connected to the hub"))
            return
        self._token += 1
        token = self._token
        self.status.setText(tr("Loading the enterprise file…"))
        hub.request(
            FILE_METHOD,
            {"enterprise_id": self.enterprise_id},
            on_result=lambda reply: self._on_file(token, reply),
            on_error=self._on_error,
        )

    def text(self) -> str:
        """The page as plain text (what a reader sees)."""
        return self.page.toPlainText()

    def _on_file(self, token: int, reply: Any) -> None:
        if token != self._token:
            return  # an answer for an enterprise no longer shown
        try:
            page = render_file_html(reply, district_names(self.session.snapshot))
        except (KeyError, TypeError, ValueError) as exc:
            self.status.setText(tr("The hub sent an unusable file: {detail}", detail=str(exc)))
            return
        self.file = reply
        self.page.setHtml(page)
        self.status.setText("")
        self.sig_loaded.emit(reply)

    def _on_error(self, error: HubError) -> None:
        self.status.setText(error_text(error))

    def _on_search_chosen(self, index: int) -> None:
        enterprise_id = self.search.itemData(index)
        if enterprise_id:
            self.session.select("enterprise", str(enterprise_id))
            self.show_enterprise(str(enterprise_id))
