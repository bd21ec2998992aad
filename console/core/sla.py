"""Service-level deadlines of dispatch tasks and the overdue arithmetic behind the alarms.

Deadlines depend on task kind, urgency and optionally category (a water pollution report may
be tighter than a noise one). A centre configures them from a settings dict; anything not
configured falls back to the defaults. The SLA clock stops in the states of
``tasks.CLOCK_STOPPED_STATES``, so a task verified late stays late by the same amount forever
instead of growing more overdue on the leaders' dashboard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from console.core.complaints import Category, Urgency, require_aware
from console.core.tasks import CLOCK_STOPPED_STATES, Task, TaskKind

DEFAULT_DEADLINES: Mapping[tuple[TaskKind, Urgency], timedelta] = MappingProxyType(
    {
        (TaskKind.VERIFICATION, Urgency.NORMAL): timedelta(hours=24),
        (TaskKind.VERIFICATION, Urgency.URGENT): timedelta(hours=1),
        (TaskKind.VERIFICATION, Urgency.CRITICAL): timedelta(minutes=30),
        (TaskKind.ENFORCEMENT, Urgency.NORMAL): timedelta(hours=72),
        (TaskKind.ENFORCEMENT, Urgency.URGENT): timedelta(hours=8),
        (TaskKind.ENFORCEMENT, Urgency.CRITICAL): timedelta(hours=2),
    }
)

_URGENCY_NAMES = frozenset(u.value for u in Urgency)
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(value: object) -> timedelta:
    """A positive duration from settings: a number of minutes or a string like ``1h30m``, ``3d``."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        duration = timedelta(minutes=value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            raise ValueError(f"not a duration: {value!r} (use minutes or e.g. '1h30m', '3d')")
        days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        raise ValueError(f"not a duration: {value!r} (use minutes or e.g. '1h30m', '3d')")
    if duration <= timedelta(0):
        raise ValueError(f"a deadline must be positive, got {value!r}")
    return duration


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Deadlines per (kind, urgency), with optional (kind, category, urgency) overrides."""

    deadlines: Mapping[tuple[TaskKind, Urgency], timedelta] = field(
        default_factory=lambda: DEFAULT_DEADLINES
    )
    overrides: Mapping[tuple[TaskKind, Category, Urgency], timedelta] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        missing = [
            f"{kind}/{urgency}"
            for kind in TaskKind
            for urgency in Urgency
            if (kind, urgency) not in self.deadlines
        ]
        if missing:
            raise ValueError(f"SLA policy lacks deadlines for {', '.join(missing)}")
        for key, value in (*self.deadlines.items(), *self.overrides.items()):
            if value <= timedelta(0):
                raise ValueError(f"SLA deadline for {'/'.join(key)} must be positive, got {value}")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SlaPolicy:
        """Build from settings, on top of the defaults.

        Format: ``{"verification": {"urgent": "45m", "water": {"normal": "12h"}}, ...}``:
        per kind, urgencies map to durations and categories map to per-urgency overrides.
        Durations are minutes (numbers) or strings like ``"1h30m"``.
        """
        deadlines = dict(DEFAULT_DEADLINES)
        overrides: dict[tuple[TaskKind, Category, Urgency], timedelta] = {}
        for kind_name, section in data.items():
            kind = _member(TaskKind, kind_name, "task kind")
            if not isinstance(section, Mapping):
                raise ValueError(f"SLA settings for {kind_name!r} must be a mapping")
            for key, value in section.items():
                if key in _URGENCY_NAMES:
                    deadlines[(kind, Urgency(key))] = _duration(value, f"{kind}/{key}")
                    continue
                category = _member(Category, key, "urgency or category")
                if not isinstance(value, Mapping):
                    raise ValueError(f"SLA settings for {kind}/{category} must be a mapping")
                for urgency_name, duration in value.items():
                    urgency = _member(Urgency, urgency_name, "urgency")
                    where = f"{kind}/{category}/{urgency}"
                    overrides[(kind, category, urgency)] = _duration(duration, where)
        return cls(MappingProxyType(deadlines), MappingProxyType(overrides))

    def duration_for(self, kind: TaskKind, category: Category, urgency: Urgency) -> timedelta:
        override = self.overrides.get((kind, category, urgency))
        return override if override is not None else self.deadlines[(kind, urgency)]

    def deadline_for(
        self, kind: TaskKind, category: Category, urgency: Urgency, created_at: datetime
    ) -> datetime:
        """When a task created at ``created_at`` is due."""
        require_aware(created_at, "created_at")
        return created_at + self.duration_for(kind, category, urgency)


_E = TypeVar("_E", TaskKind, Category, Urgency)


def _member(enum: type[_E], value: object, what: str) -> _E:
    try:
        return enum(str(value))
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise ValueError(f"unknown {what} {value!r} in SLA settings; expected {choices}") from None


def _duration(value: object, where: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"SLA settings {where}: {exc}") from None


def clock_running(task: Task) -> bool:
    return task.state not in CLOCK_STOPPED_STATES[task.kind]


def remaining(task: Task, now: datetime) -> timedelta:
    """Time left until the deadline; negative when late. Frozen once the clock has stopped."""
    require_aware(now, "now")
    if task.clock_stopped_at is not None:
        return task.deadline - task.clock_stopped_at
    return task.deadline - now


def is_overdue(task: Task, now: datetime) -> bool:
    """Open and past its deadline: what raises an overdue alarm. Finished tasks never are."""
    return clock_running(task) and remaining(task, now) < timedelta(0)


def overdue_tasks(tasks: Iterable[Task], now: datetime) -> list[Task]:
    """Overdue tasks, most overdue first (ties by id, so the order is stable)."""
    late = [t for t in tasks if is_overdue(t, now)]
    late.sort(key=lambda t: (t.deadline, t.id))
    return late


class Countdown(NamedTuple):
    """A remaining time split for display: sign is -1 when overdue, else 1; hours unbounded."""

    sign: int
    hours: int
    minutes: int
    seconds: int


def countdown(left: timedelta) -> Countdown:
    """Split ``left`` into whole hours/minutes/seconds, truncated toward zero."""
    sign = -1 if left < timedelta(0) else 1
    total = abs(left) // timedelta(seconds=1)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return Countdown(sign, hours, minutes, seconds)
