"""Enterprise colours on the map: from open alarms and officers on site, problems first."""

from __future__ import annotations

from console.map.enterprise_states import EnterpriseStates


def alarm(
    alarm_id: str, enterprise: str, kind: str = "exceedance", severity: str = "warning"
) -> dict[str, str]:
    return {"id": alarm_id, "enterprise_id": enterprise, "kind": kind, "severity": severity}


def test_states_follow_alarms_and_visits_and_go_back_to_normal() -> None:
    states = EnterpriseStates()
    states.reset_alarms(
        [
            alarm("A1", "E1"),
            alarm("A2", "E2", kind="offline"),
            {**alarm("A3", "E3"), "cleared_at": "2026-11-29T00:00:00+00:00"},  # closed
            alarm("A4", "E4", kind="clock_drift", severity="info"),  # not worth a colour
        ]
    )
    states.reset_tasks([{"id": "T1", "enterprise_id": "E2", "state": "on_site"}])
    assert states.changes() == {"E1": "alarm", "E2": "offline"}  # no data outranks a visit
    assert states.changes() == {}  # nothing new

    states.apply_tasks([{"id": "T2", "enterprise_id": "E5", "state": "on_site"}])
    states.apply_alarm(alarm("A1", "E1"), raised=False)
    assert states.changes() == {"E5": "inspecting", "E1": "normal"}

    states.apply_alarm(alarm("A5", "E5", severity="critical"), raised=True)
    states.apply_tasks([{"id": "T1", "enterprise_id": "E2", "state": "verified_confirmed"}])
    assert states.changes() == {"E5": "alarm"}  # an alarm outranks a visit
    states.apply_alarm(alarm("A2", "E2", kind="offline"), raised=False)
    assert states.changes() == {"E2": "normal"}

    states.forget_shown()  # the map was redrawn: everything not normal again
    assert states.changes() == {"E5": "alarm"}
