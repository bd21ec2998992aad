"""Translated display names of the dispatch enums (the wire carries the English values).

Kept as functions, not module-level dicts, so a language switch takes effect on the next
call instead of freezing the names at import time.
"""

from __future__ import annotations

from console.core.complaints import Category, Channel, Urgency
from console.core.sla import Countdown
from console.core.tasks import OUTBOX_ASSIGNED, OUTBOX_CANCELLED, Action, TaskKind, TaskState
from console.shell.i18n import tr

DISPATCH_EVENT = "dispatch"
"""The timeline event that creates a task (not a state-machine action)."""


def channel_label(channel: str) -> str:
    labels: dict[str, str] = {
        Channel.HOTLINE_12369: tr("12369 hotline"),
        Channel.LETTER: tr("Letter"),
        Channel.WEB: tr("Web"),
        Channel.WECHAT: tr("WeChat"),
        Channel.MONITORING_ALARM: tr("Online monitoring alarm"),
        Channel.OTHER: tr("Other"),
    }
    return labels.get(channel, channel)


def category_label(category: str) -> str:
    labels: dict[str, str] = {
        Category.WATER: tr("Water"),
        Category.AIR: tr("Air"),
        Category.NOISE: tr("Noise"),
        Category.SOLID_WASTE: tr("Solid waste"),
        Category.ODOUR: tr("Odour"),
        Category.OTHER: tr("Other"),
    }
    return labels.get(category, category)


def urgency_label(urgency: str) -> str:
    labels: dict[str, str] = {
        Urgency.NORMAL: tr("Normal"),
        Urgency.URGENT: tr("Urgent"),
        Urgency.CRITICAL: tr("Critical"),
    }
    return labels.get(urgency, urgency)


def kind_label(kind: str) -> str:
    labels: dict[str, str] = {
        TaskKind.VERIFICATION: tr("Verification"),
        TaskKind.ENFORCEMENT: tr("Enforcement"),
    }
    return labels.get(kind, kind)


def state_label(state: str) -> str:
    labels: dict[str, str] = {
        TaskState.ASSIGNED: tr("Assigned"),
        TaskState.DELIVERED: tr("Delivered"),
        TaskState.ACCEPTED: tr("Accepted"),
        TaskState.EN_ROUTE: tr("En route"),
        TaskState.ON_SITE: tr("On site"),
        TaskState.VERIFIED_CONFIRMED: tr("Verified: confirmed"),
        TaskState.VERIFIED_UNFOUNDED: tr("Verified: unfounded"),
        TaskState.PROCEDURE_COMPLETE: tr("Procedure complete"),
        TaskState.CLOSED: tr("Closed"),
        TaskState.ARCHIVED: tr("Archived"),
        TaskState.CANCELLED: tr("Cancelled"),
    }
    return labels.get(state, state)


def outbox_label(kind: str) -> str:
    """What a message to an officer's phone was (the outbox kinds the hub writes)."""
    labels = {
        OUTBOX_ASSIGNED: tr("Assignment notice"),
        OUTBOX_CANCELLED: tr("Cancellation notice"),
    }
    return labels.get(kind, kind)


def action_label(action: str) -> str:
    labels: dict[str, str] = {
        Action.DELIVER: tr("Mark delivered"),
        Action.ACCEPT: tr("Accept"),
        Action.DEPART: tr("Depart"),
        Action.ARRIVE: tr("Arrive"),
        Action.VERIFY_CONFIRMED: tr("Verified: confirmed"),
        Action.VERIFY_UNFOUNDED: tr("Verified: unfounded"),
        Action.COMPLETE_PROCEDURE: tr("Complete procedure"),
        Action.CLOSE: tr("Close"),
        Action.ARCHIVE: tr("Archive"),
        Action.CANCEL: tr("Cancel task"),
        Action.REOPEN: tr("Reopen"),
        Action.REASSIGN: tr("Reassign"),
        Action.HAND_OVER: tr("Hand over"),
        Action.ESCALATE: tr("Escalate to squad"),
        DISPATCH_EVENT: tr("Dispatched"),
    }
    return labels.get(action, action)


def format_countdown(left: Countdown) -> str:
    """``01:02:03`` left, or ``-01:02:03`` when overdue (hours may exceed 24)."""
    sign = "-" if left.sign < 0 else ""
    return f"{sign}{left.hours:02d}:{left.minutes:02d}:{left.seconds:02d}"
