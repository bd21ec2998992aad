"""Session: setters emit once per real change, so listeners can refresh unconditionally."""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot

from console.shell.session import Session
from console.shell.summary import city_name, district_counts


def test_selection_task_and_filters_emit_only_on_change(qtbot: QtBot) -> None:
    session = Session()
    selections: list[tuple[str, str]] = []
    tasks: list[str] = []
    filters: list[dict[str, Any]] = []
    session.sig_selection_changed.connect(lambda kind, id_: selections.append((kind, id_)))
    session.sig_task_changed.connect(tasks.append)
    session.sig_filters_changed.connect(filters.append)

    session.select("enterprise", "e-1")
    session.select("enterprise", "e-1")
    session.clear_selection()
    session.set_current_task("t-9")
    session.set_current_task("t-9")
    session.set_filter("district", "331002")
    session.set_filter("district", "331002")
    session.set_filter("district", None)

    assert selections == [("enterprise", "e-1"), ("", "")]
    assert tasks == ["t-9"]
    assert filters == [{"district": "331002"}, {}]
    filters[0]["district"] = "changed by a listener"
    assert session.filters == {}


def test_login_sets_user_and_scope_once(qtbot: QtBot) -> None:
    session = Session()
    users: list[Any] = []
    session.sig_user_changed.connect(users.append)
    login = {"user": {"username": "leader"}, "scope": {"org_id": "org-1", "districts": ["1"]}}
    session.set_login(login)
    session.set_login(login)  # a reconnect with the same user changes nothing
    assert users == [{"username": "leader"}]
    assert session.scope == {"org_id": "org-1", "districts": ["1"]}


def test_district_counts_and_city_from_a_snapshot() -> None:
    snapshot = {
        "city": {"adcode": "331000", "name": "台州市"},
        "districts": [
            {"adcode": "331002", "name": "椒江区"},
            {"adcode": "331003", "name": "黄岩区"},
        ],
        "grids": [{"district_adcode": "331002"}] * 3 + [{"district_adcode": "331003"}],
        "officers": [{"district_adcode": "331003"}] * 2,
        "squads": [{"district_adcode": "331002"}],
        "enterprises": [],
    }
    rows = district_counts(snapshot)
    assert [(r.name, r.grids, r.officers, r.squads, r.enterprises) for r in rows] == [
        ("椒江区", 3, 0, 1, 0),
        ("黄岩区", 1, 2, 0, 0),
    ]
    assert city_name(snapshot) == "台州市"
    assert city_name({"organisations": [{"level": "city", "name": "杭州市"}]}) == "杭州市"
