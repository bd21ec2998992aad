"""In-process event bus: features publish, console connections subscribe by topic.

Publishing never waits for a subscriber. Each subscription has a bounded queue; when a
console cannot keep up the queue overflows and the subscription reports it, so the hub
drops that console instead of buffering without limit. Event payloads are JSON-encoded once
per publish, not once per subscriber.

Visibility is decided per event from its district and, for owned things such as tasks, its
owning organisation: the subscriber's ``visible(district_adcode, owner_org_id)`` is the same
rule the methods apply (``console.hub.scope.Scope.sees``), so an event never reaches a
console that could not read the thing it is about.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

_TOPIC_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_encoder = msgspec.json.Encoder()

SEATS_CHANGED = "seats.changed"
WORLD_CHANGED = "world.changed"
"""The hub serves a changed world (a grid import): ``{"revision", "summary"}``; consoles
fetch ``world.snapshot`` again."""

Visibility = Callable[[str | None, str | None], bool]
"""``visible(district_adcode, owner_org_id)``: whether a subscriber may receive an event."""


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is well formed (``officer.moved``), else raise ValueError."""
    if not _TOPIC_RE.match(topic):
        raise ValueError(
            f"invalid topic {topic!r}: use dotted lower-case words such as 'officer.moved'"
        )
    return topic


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One published event. ``district_adcode`` None means visible to every scope;
    ``owner_org_id`` None means not owned by an organisation (positions, alarms)."""

    topic: str
    data: msgspec.Raw
    district_adcode: str | None
    owner_org_id: str | None = None


class QueueOverflowError(Exception):
    """Raised by ``Subscription.next_batch`` once the subscriber fell too far behind."""


class Subscription:
    """A subscriber's topics, visibility filter and bounded queue."""

    def __init__(
        self,
        bus: EventBus,
        topics: frozenset[str],
        visible: Visibility,
        limit: int,
        on_overflow: Callable[[], None] | None = None,
    ) -> None:
        self._bus = bus
        self._on_overflow = on_overflow
        self.topics = topics
        self._visible = visible
        self._limit = limit
        self._queue: deque[BusEvent] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def set_topics(self, topics: frozenset[str]) -> None:
        self.topics = topics

    def offer(self, event: BusEvent) -> bool:
        """Queue ``event`` if wanted; False when it did not fit (the subscriber overflowed)."""
        if self.closed or self.overflowed:
            return False
        if event.topic not in self.topics or not self._visible(
            event.district_adcode, event.owner_org_id
        ):
            return True
        if len(self._queue) >= self._limit:
            self.overflowed = True
            self._queue.clear()
            self._ready.set()
            if self._on_overflow is not None:
                self._on_overflow()
            return False
        self._queue.append(event)
        self._ready.set()
        return True

    async def next_batch(self, max_items: int = 256) -> list[BusEvent]:
        """Wait for events and return up to ``max_items`` of them, oldest first."""
        while not self._queue:
            if self.overflowed:
                raise QueueOverflowError(f"more than {self._limit} events waiting")
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            raise QueueOverflowError(f"more than {self._limit} events waiting")
        count = min(max_items, len(self._queue))
        return [self._queue.popleft() for _ in range(count)]

    def close(self) -> None:
        self.closed = True
        self._queue.clear()
        self._bus.unsubscribe(self)


class EventBus:
    """Topic-based fan-out. Use from the hub's event loop thread only."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self.published = 0

    def subscribe(
        self,
        topics: frozenset[str],
        visible: Visibility,
        limit: int,
        on_overflow: Callable[[], None] | None = None,
    ) -> Subscription:
        """Subscribe; ``on_overflow`` is called once when more than ``limit`` events wait."""
        for topic in topics:
            check_topic(topic)
        subscription = Subscription(self, topics, visible, limit, on_overflow)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def publish(
        self,
        topic: str,
        data: Any,
        district_adcode: str | None = None,
        owner_org_id: str | None = None,
    ) -> None:
        """Deliver ``data`` (anything msgspec can encode) to every interested subscriber."""
        check_topic(topic)
        event = BusEvent(topic, msgspec.Raw(_encoder.encode(data)), district_adcode, owner_org_id)
        self.published += 1
        for subscription in list(self._subscriptions):
            subscription.offer(event)
