"""Each enterprise's colour on the map, from its open alarms and its tasks on site.

An open alarm of warning or critical severity makes the enterprise ``alarm``; a station that
stopped sending (an ``offline`` alarm) ``offline``; officers on site (a task of it in state
``on_site``) ``inspecting``. Problems come first: an alarm outranks the others, and missing
data outranks a visit. Everything else is ``normal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ALARM_RAISED = "alarm.raised"
ALARM_CLEARED = "alarm.cleared"
ALARM_SEVERITIES = frozenset({"warning", "critical"})
OFFLINE_KIND = "offline"
ON_SITE = "on_site"
PRECEDENCE = ("alarm", "offline", "inspecting")
"""States other than normal, the one shown first when several apply."""


class EnterpriseStates:
    """Open alarms and on-site tasks by enterprise; ``changes()`` says what to recolour."""

    def __init__(self) -> None:
        self._alarms: dict[str, tuple[str, str]] = {}  # alarm id -> (enterprise, state)
        self._visits: dict[str, str] = {}  # task id -> enterprise
        self._shown: dict[str, str] = {}  # enterprise -> state on the map, normal left out

    def reset_alarms(self, alarms: Iterable[Mapping[str, Any]]) -> None:
        """Replace the open alarms (an ``alarms.list`` answer; cleared ones are ignored)."""
        self._alarms.clear()
        for alarm in alarms:
            self.apply_alarm(alarm, raised=alarm.get("cleared_at") is None)

    def apply_alarm(self, alarm: Mapping[str, Any], *, raised: bool) -> None:
        alarm_id, enterprise = str(alarm.get("id", "")), alarm.get("enterprise_id")
        if not raised or not enterprise:
            self._alarms.pop(alarm_id, None)
            return
        if alarm.get("kind") == OFFLINE_KIND:
            self._alarms[alarm_id] = (str(enterprise), "offline")
        elif alarm.get("severity") in ALARM_SEVERITIES:
            self._alarms[alarm_id] = (str(enterprise), "alarm")

    def reset_tasks(self, tasks: Iterable[Mapping[str, Any]]) -> None:
        self._visits.clear()
        self.apply_tasks(tasks)

    def apply_tasks(self, tasks: Iterable[Mapping[str, Any]]) -> None:
        for task in tasks:
            task_id, enterprise = str(task.get("id", "")), task.get("enterprise_id")
            if enterprise and task.get("state") == ON_SITE:
                self._visits[task_id] = str(enterprise)
            else:
                self._visits.pop(task_id, None)

    def states(self) -> dict[str, str]:
        """Enterprise -> its state, for enterprises that are not normal."""
        found: dict[str, set[str]] = {}
        for enterprise, state in self._alarms.values():
            found.setdefault(enterprise, set()).add(state)
        for enterprise in self._visits.values():
            found.setdefault(enterprise, set()).add("inspecting")
        return {
            enterprise: next(s for s in PRECEDENCE if s in states)
            for enterprise, states in found.items()
        }

    def forget_shown(self) -> None:
        """The map was rebuilt with every enterprise normal (a new snapshot)."""
        self._shown.clear()

    def changes(self) -> dict[str, str]:
        """What differs from the map since the last call, back to ``normal`` included."""
        now = self.states()
        changed = {e: s for e, s in now.items() if self._shown.get(e) != s}
        changed.update({e: "normal" for e in self._shown if e not in now})
        self._shown = now
        return changed
