"""Replacing the world's grid layer in place, keeping everything else of the world.

Grids are referenced by officers (their grid) and enterprises (the grid they lie in), and
grids reference their officer back, so the swap unlinks all three, replaces the grids and
links them again. The caller owns the transaction (``Store.session()``): either the whole
new layer is stored or nothing changes. Complaints and tasks keep the grid id they were
dispatched with (no foreign key): history is not rewritten by a new layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from console.core.model import Grid
from console.store.errors import StoreError
from console.store.schema import EnterpriseRow, GridRow, MetaEntry, OfficerRow
from console.store.world_repo import CITY_ADCODE_KEY, META_PREFIX, mark_world_changed

GRIDS_SOURCE_KEY = META_PREFIX + "grids_source"


def replace_grids(
    session: Session,
    grids: Sequence[Grid],
    enterprise_grids: Mapping[str, str | None],
    *,
    source: str,
) -> None:
    """Store ``grids`` instead of the current ones.

    Officers named by a grid get that grid, every other officer none; enterprises get the
    grid given in ``enterprise_grids`` (none when absent). ``source`` is recorded in the
    world's meta (``grids_source``) so people can tell an imported layer from the demo one.
    """
    if session.get(MetaEntry, CITY_ADCODE_KEY) is None:
        raise StoreError("no world: run seed before importing grids")
    known_officers = set(session.scalars(select(OfficerRow.id)))
    unknown = sorted({g.officer_id for g in grids if g.officer_id} - known_officers)
    if unknown:
        raise StoreError(f"grids name officers that are not stored: {', '.join(unknown[:10])}")
    session.execute(update(OfficerRow).values(grid_id=None))
    session.execute(update(EnterpriseRow).values(grid_id=None))
    session.execute(update(GridRow).values(officer_id=None))
    session.execute(delete(GridRow))
    if grids:
        session.execute(
            insert(GridRow),
            [
                {
                    "id": g.id,
                    "seq": i,
                    "name": g.name,
                    "district_adcode": g.district_adcode,
                    "geometry": g.geometry,
                    "officer_id": g.officer_id,
                }
                for i, g in enumerate(grids)
            ],
        )
    officer_links = [{"id": g.officer_id, "grid_id": g.id} for g in grids if g.officer_id]
    if officer_links:
        session.execute(update(OfficerRow), officer_links)  # bulk UPDATE by primary key
    enterprise_links = [{"id": e, "grid_id": g} for e, g in enterprise_grids.items() if g]
    if enterprise_links:
        session.execute(update(EnterpriseRow), enterprise_links)
    session.merge(MetaEntry(key=GRIDS_SOURCE_KEY, value=source))
    mark_world_changed(session)
