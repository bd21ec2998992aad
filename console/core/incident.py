"""Emergency incidents (应急事件): one board for the tasks, people, cameras and orders of a crisis.

A commander opens an incident at a place with a level (the four levels of the national
emergency plans: 一般 / 较大 / 重大 / 特别重大). Tasks, squads, officers and cameras are linked
to it as members; orders are given to a member (or to everyone) and acknowledged; the
incident is closed with a summary, after which nothing changes any more. This module holds
the rules (who may do what, what an order may be addressed to, which cameras to propose)
and the merged timeline; storing and sending are the store's and the hub's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np

from console.core.geo import Projector
from console.core.model import Role

MAX_TITLE = 200
MAX_ORDER_TEXT = 2000
MAX_SUMMARY = 8000
ALL_MEMBERS = "all"
"""The ``to`` of an order addressed to everyone on the incident."""

DEFAULT_CAMERA_RADIUS_M = 3000.0
DEFAULT_CAMERA_PROPOSALS = 8


class IncidentError(ValueError):
    """A request the incident rules refuse; the message says why."""


class IncidentClosedError(IncidentError):
    """The incident is closed: its members, orders and acknowledgements are final."""


class IncidentLevel(StrEnum):
    """Severity levels of the national emergency plans (IV lowest … I highest)."""

    GENERAL = "general"  # 一般 (IV)
    LARGER = "larger"  # 较大 (III)
    MAJOR = "major"  # 重大 (II)
    ESPECIALLY_MAJOR = "especially_major"  # 特别重大 (I)


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class MemberKind(StrEnum):
    TASK = "task"
    SQUAD = "squad"
    OFFICER = "officer"
    CAMERA = "camera"


ADDRESSABLE = frozenset({MemberKind.SQUAD, MemberKind.OFFICER})
"""Members an order can be addressed to (people, not tasks or cameras)."""


class Permission(StrEnum):
    READ = "read"
    ADD = "add"  # link members, create tasks for the incident
    ACT = "act"  # open, order, acknowledge, close


_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.COMMANDER: frozenset(Permission),
    Role.DISPATCHER: frozenset({Permission.READ, Permission.ADD}),
    Role.LEADER: frozenset({Permission.READ}),
}


def roles_with(permission: Permission) -> frozenset[Role]:
    """Roles holding ``permission``: commanders and admins act, dispatchers add, leaders read."""
    return frozenset(role for role, held in _PERMISSIONS.items() if permission in held)


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    title: str
    level: IncidentLevel
    lon: float
    lat: float
    address: str
    district_adcode: str
    status: IncidentStatus
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None = None
    closed_by: str | None = None
    summary: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level.value,
            "lon": self.lon,
            "lat": self.lat,
            "address": self.address,
            "district_adcode": self.district_adcode,
            "status": self.status.value,
            "opened_at": self.opened_at.isoformat(),
            "opened_by": self.opened_by,
            "closed_at": None if self.closed_at is None else self.closed_at.isoformat(),
            "closed_by": self.closed_by,
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class Member:
    kind: MemberKind
    member_id: str
    added_at: datetime
    added_by: str

    @property
    def address(self) -> str:
        """How an order names this member: ``officer:<id>`` / ``squad:<id>``."""
        return f"{self.kind.value}:{self.member_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "id": self.member_id,
            "added_at": self.added_at.isoformat(),
            "added_by": self.added_by,
        }


@dataclass(frozen=True, slots=True)
class Ack:
    by: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "at": self.at.isoformat()}


@dataclass(frozen=True, slots=True)
class Order:
    """An order given on the incident: ``seq`` counts from 1 per incident."""

    seq: int
    at: datetime
    by: str
    seat: str
    to: str
    text: str
    acks: tuple[Ack, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "by": self.by,
            "seat": self.seat,
            "to": self.to,
            "text": self.text,
            "acks": [a.to_json() for a in self.acks],
        }


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """An incident with everything linked to it and every order given on it."""

    incident: Incident
    members: tuple[Member, ...]
    orders: tuple[Order, ...]

    def member_ids(self, kind: MemberKind) -> list[str]:
        return [m.member_id for m in self.members if m.kind is kind]


def check_title(title: str) -> str:
    cleaned = title.strip()
    if not cleaned:
        raise IncidentError("an incident needs a title")
    if len(cleaned) > MAX_TITLE:
        raise IncidentError(f"an incident title is at most {MAX_TITLE} characters")
    return cleaned


def parse_level(value: str) -> IncidentLevel:
    try:
        return IncidentLevel(value)
    except ValueError:
        known = ", ".join(level.value for level in IncidentLevel)
        raise IncidentError(f"unknown incident level {value!r}; expected one of: {known}") from None


def parse_member_kind(value: str) -> MemberKind:
    try:
        return MemberKind(value)
    except ValueError:
        known = ", ".join(kind.value for kind in MemberKind)
        raise IncidentError(f"unknown member kind {value!r}; expected one of: {known}") from None


def require_open(incident: Incident) -> None:
    if incident.status is IncidentStatus.CLOSED:
        raise IncidentClosedError(f"incident {incident.id} is closed")


def check_order(detail: IncidentDetail, to: str, text: str) -> tuple[str, str]:
    """Validate an order: the incident is open, ``to`` is "all" or an officer/squad member."""
    require_open(detail.incident)
    body = text.strip()
    if not body:
        raise IncidentError("an order needs a text")
    if len(body) > MAX_ORDER_TEXT:
        raise IncidentError(f"an order is at most {MAX_ORDER_TEXT} characters")
    if to == ALL_MEMBERS:
        return to, body
    addressable = {m.address for m in detail.members if m.kind in ADDRESSABLE}
    if to not in addressable:
        choices = ", ".join(sorted(addressable)) or "none yet: link squads or officers first"
        raise IncidentError(
            f"an order goes to {ALL_MEMBERS!r} or to a linked squad or officer "
            f"(squad:<id>, officer:<id>); {to!r} is not one. Linked: {choices}"
        )
    return to, body


def check_ack(detail: IncidentDetail, seq: int) -> Order:
    require_open(detail.incident)
    for order in detail.orders:
        if order.seq == seq:
            return order
    raise IncidentError(f"incident {detail.incident.id} has no order {seq}")


def check_summary(summary: str) -> str:
    cleaned = summary.strip()
    if not cleaned:
        raise IncidentError("closing an incident needs a summary of what was done")
    if len(cleaned) > MAX_SUMMARY:
        raise IncidentError(f"a summary is at most {MAX_SUMMARY} characters")
    return cleaned


@dataclass(frozen=True, slots=True)
class CameraProposal:
    camera_id: str
    distance_m: float


def propose_cameras(
    lon: float,
    lat: float,
    cameras: Sequence[tuple[str, float, float]],
    *,
    radius_m: float = DEFAULT_CAMERA_RADIUS_M,
    limit: int = DEFAULT_CAMERA_PROPOSALS,
    exclude: Iterable[str] = (),
) -> list[CameraProposal]:
    """The nearest cameras ``(id, lon, lat)`` within ``radius_m`` of the incident, nearest
    first, measured in the incident's Gauss-Krüger zone (never in degrees)."""
    excluded = set(exclude)
    candidates = [c for c in cameras if c[0] not in excluded]
    if not candidates or limit < 1:
        return []
    projector = Projector.for_lon(lon)
    x0, y0 = projector.to_xy(lon, lat)
    xs, ys = projector.to_xy(
        np.array([c[1] for c in candidates], dtype=np.float64),
        np.array([c[2] for c in candidates], dtype=np.float64),
    )
    distances = np.hypot(xs - x0, ys - y0)
    order = np.argsort(distances, kind="stable")
    return [
        CameraProposal(candidates[i][0], round(float(distances[i]), 1))
        for i in order[:limit]
        if distances[i] <= radius_m
    ]


def timeline(detail: IncidentDetail) -> list[dict[str, Any]]:
    """Everything that happened on the incident, oldest first: opened, linked, order, ack,
    closed. Each entry has ``at``, ``kind`` and ``by``, plus what it is about."""
    incident = detail.incident
    entries: list[tuple[datetime, int, dict[str, Any]]] = [
        (
            incident.opened_at,
            0,
            {
                "kind": "opened",
                "by": incident.opened_by,
                "title": incident.title,
                "level": incident.level.value,
            },
        )
    ]
    for member in detail.members:
        entries.append(
            (
                member.added_at,
                1,
                {
                    "kind": "linked",
                    "by": member.added_by,
                    "member_kind": member.kind.value,
                    "member_id": member.member_id,
                },
            )
        )
    for order in detail.orders:
        entries.append(
            (
                order.at,
                2,
                {
                    "kind": "order",
                    "by": order.by,
                    "seq": order.seq,
                    "to": order.to,
                    "text": order.text,
                },
            )
        )
        for ack in order.acks:
            entries.append((ack.at, 3, {"kind": "ack", "by": ack.by, "seq": order.seq}))
    if incident.closed_at is not None:
        entries.append(
            (
                incident.closed_at,
                4,
                {"kind": "closed", "by": incident.closed_by or "", "summary": incident.summary},
            )
        )
    entries.sort(key=lambda item: (item[0], item[1]))
    return [{"at": at.isoformat(), **entry} for at, _rank, entry in entries]
