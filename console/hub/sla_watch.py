"""Periodic check for tasks that passed their SLA deadline: one ``task.overdue`` per task.

Every hub process may run a watcher against the same database; the announcement is claimed
with a conditional UPDATE (``overdue_notified_at IS NULL``), so exactly one hub announces
each task however many run. A reopened task gets a new deadline and can be announced again.
"""

from __future__ import annotations

import logging

from console.hub.dispatch_methods import TASK_OVERDUE, publish_task
from console.hub.state import HubState, PeriodicJob, utc_now
from console.store.dispatch_repo import DispatchRepo

log = logging.getLogger(__name__)


class SlaWatch:
    """``watch = SlaWatch(state); watch.start()`` … ``await watch.stop()``."""

    def __init__(self, state: HubState) -> None:
        self.state = state
        self._job = PeriodicJob(
            "sla-watch", state.config.sla_check_interval_s, self.check, immediately=True
        )

    def start(self) -> None:
        self._job.start()

    async def stop(self) -> None:
        await self._job.stop()

    async def check(self) -> int:
        """Announce every newly overdue task once; returns how many this hub announced."""
        state = self.state
        repo = DispatchRepo(state.store)
        now = utc_now()
        announced = 0
        for record in await state.db.run(repo.overdue_unannounced, now):
            task = record.task
            if await state.db.run(repo.claim_overdue, task.id, task.version, now):
                publish_task(state, TASK_OVERDUE, record)
                announced += 1
        return announced
