"""Hub test helpers: a small hand-built two-district world, seeding, and client helpers.

The world is small on purpose: fast to seed and easy to reason about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shapely.geometry import box

from console.core.model import (
    CreditRating,
    District,
    Enterprise,
    Grid,
    Industry,
    Officer,
    OfficerRole,
    Organisation,
    OrgLevel,
    Outlet,
    OutletKind,
    Role,
    Squad,
    User,
    World,
)
from console.core.passwords import hash_password
from console.hub.client import HubClient
from console.store import Store

T = TypeVar("T")

PASSWORD = "s3cret-pass"
# district adcode -> (west, east) longitudes; both span 28.0..28.1 N
DISTRICTS = {"331002": (121.0, 121.1), "331003": (121.1, 121.2)}
IN_331002 = (121.03, 28.05)
IN_331003 = (121.17, 28.05)
OUTSIDE = (120.5, 28.05)

# username -> (role, org_id, active)
USERS: dict[str, tuple[Role, str, bool]] = {
    "admin": (Role.ADMIN, "org-331000", True),
    "dispatcher": (Role.DISPATCHER, "org-331000", True),
    "county": (Role.DISPATCHER, "org-331002", True),
    "squad": (Role.COMMANDER, "squad-331002-1", True),
    "leader": (Role.LEADER, "org-331000", True),
    "retired": (Role.DISPATCHER, "org-331000", False),
}


def small_world() -> World:
    organisations = [
        Organisation("org-330000", "浙江省生态环境厅", OrgLevel.PROVINCE, None, "330000"),
        Organisation("org-331000", "台州市生态环境局", OrgLevel.CITY, "org-330000", "331000"),
    ]
    districts, grids, officers, squads, enterprises = [], [], [], [], []
    for adcode, (west, east) in DISTRICTS.items():
        county = f"org-{adcode}"
        squad_org = f"squad-{adcode}-1"
        organisations += [
            Organisation(county, f"分局{adcode}", OrgLevel.COUNTY, "org-331000", adcode),
            Organisation(squad_org, f"中队{adcode}", OrgLevel.SQUAD, county),
        ]
        districts.append(District(adcode, f"区{adcode}", county, box(west, 28.0, east, 28.1)))
        middle = (west + east) / 2
        for number, (x0, x1) in enumerate(((west, middle), (middle, east)), start=1):
            grid_id = f"{adcode}-{number:04d}"
            officer_id = f"officer-{grid_id}"
            grids.append(
                Grid(
                    grid_id,
                    f"网格{grid_id}",
                    adcode,
                    box(x0, 28.0, x1, 28.1).buffer(0),
                    officer_id,
                )
            )
            officers.append(
                Officer(
                    officer_id,
                    f"网格员{number}",
                    OfficerRole.GRID_OFFICER,
                    county,
                    adcode,
                    grid_id=grid_id,
                    phone="13800000000",
                )
            )
        squads.append(Squad(squad_org, f"执法一中队{adcode}", squad_org, adcode, middle, 28.05))
        enterprises.append(
            Enterprise(
                id=f"ent-{adcode}",
                name=f"某某印染有限公司{adcode}",
                credit_code="91331000MA2AAAAAA1",
                industry=Industry.DYEING,
                district_adcode=adcode,
                grid_id=f"{adcode}-0001",
                lon=west + 0.01,
                lat=28.02,
                address="工业园区1号",
                credit_rating=CreditRating.GREEN,
                outlets=(
                    Outlet(
                        f"outlet-{adcode}",
                        "废水总排口",
                        OutletKind.WATER,
                        f"{adcode}00000000000000000001",
                        "secret-pw",
                        west + 0.011,
                        28.021,
                    ),
                ),
            )
        )
    return World(
        organisations=tuple(organisations),
        districts=tuple(districts),
        grids=tuple(grids),
        officers=tuple(officers),
        squads=tuple(squads),
        enterprises=tuple(enterprises),
        city_adcode="331000",
        city_name="台州市",
        meta={"synthetic": "true"},
    )


def seed_store(url: str, world: World) -> None:
    """Save ``world`` and the USERS (all with PASSWORD) into the store at ``url``."""
    store = Store.open(url)
    try:
        store.save_world(world)
        password_hash = hash_password(PASSWORD)
        for username, (role, org_id, active) in USERS.items():
            store.add_user(
                User(username, f"用户{username}", role, org_id, password_hash, active=active)
            )
    finally:
        store.close()


def run(coroutine_fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    """Run one test coroutine on a fresh event loop with a deadline."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine_fn(), timeout)

    return asyncio.run(bounded())


async def logged_in(
    url: str,
    username: str,
    seat: str = "seat-1",
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> HubClient:
    client = HubClient(on_event=on_event)
    await client.connect(url)
    await client.login(username, PASSWORD, seat)
    return client
