"""Small hand-built worlds for store tests: every table and every optional field is used."""

from __future__ import annotations

from shapely.geometry import MultiPolygon, Polygon, box

from console.core.model import (
    CreditRating,
    District,
    DutyStatus,
    Enterprise,
    Grid,
    Industry,
    Officer,
    OfficerRole,
    Organisation,
    OrgLevel,
    Outlet,
    OutletKind,
    PermitLimit,
    Squad,
    World,
)


def small_world(city_name: str = "台州市", grid_rows: int = 2) -> World:
    """Two districts (a polygon with a hole, and a multipolygon), grids, people, enterprises."""
    orgs = (
        # Listed child-first on purpose: the store must order parents itself.
        Organisation("org-county-a", "椒江分局", OrgLevel.COUNTY, "org-city", "331002"),
        Organisation("org-province", "浙江省生态环境厅", OrgLevel.PROVINCE, None, "330000"),
        Organisation("org-city", "台州市生态环境局", OrgLevel.CITY, "org-province", "331000"),
        Organisation("org-county-b", "黄岩分局", OrgLevel.COUNTY, "org-city", "331003"),
        Organisation("org-squad-a", "椒江执法中队", OrgLevel.SQUAD, "org-county-a"),
    )
    district_a = Polygon(
        [(121.0, 28.0), (121.5, 28.0), (121.5, 28.5), (121.0, 28.5)],
        [[(121.2, 28.2), (121.3, 28.2), (121.3, 28.3), (121.2, 28.3)]],
    )
    district_b = MultiPolygon([box(121.5, 28.0, 122.0, 28.5), box(122.1, 28.1, 122.2, 28.2)])
    districts = (
        District("331002", "椒江区", "org-county-a", district_a),
        District("331003", "黄岩区", "org-county-b", district_b),
    )
    grids: list[Grid] = []
    officers: list[Officer] = []
    step = 0.5 / grid_rows
    for adcode, west in (("331002", 121.0), ("331003", 121.5)):
        org = "org-county-a" if adcode == "331002" else "org-county-b"
        for row in range(grid_rows):
            for col in range(grid_rows):
                grid_id = f"g-{adcode}-{row}-{col}"
                # Every other grid has no officer yet (a vacancy).
                officer_id = f"o-{grid_id}" if (row + col) % 2 == 0 else None
                cell = box(
                    west + col * step,
                    28.0 + row * step,
                    west + (col + 1) * step,
                    28.0 + (row + 1) * step,
                )
                grids.append(Grid(grid_id, f"网格{row}-{col}", adcode, cell, officer_id))
                if officer_id:
                    officers.append(
                        Officer(
                            officer_id,
                            f"网格员{row}{col}",
                            OfficerRole.GRID_OFFICER,
                            org,
                            adcode,
                            grid_id=grid_id,
                            phone="13800000000",
                            badge_no=f"33{row}{col}",
                        )
                    )
    squads = (
        Squad("s-a", "椒江中队", "org-squad-a", "331002", 121.1234567891, 28.1234567891),
        Squad("s-b", "黄岩中队", "org-county-b", "331003", 121.7, 28.3, available=False),
    )
    officers.append(
        Officer(
            "o-squad-1",
            "队员甲",
            OfficerRole.SQUAD_MEMBER,
            "org-squad-a",
            "331002",
            squad_id="s-a",
            duty=DutyStatus.ON_LEAVE,
        )
    )
    water = Outlet(
        "out-1",
        "废水总排口",
        OutletKind.WATER,
        "010000A8900016F000169DC0",
        "123456",
        121.11,
        28.11,
        (
            PermitLimit("w01018", "COD", "mg/L", 100.0, annual_quota_kg=12000.5),
            PermitLimit("w01001", "pH", "", 9.0, lower_limit=6.0),
        ),
    )
    gas = Outlet("out-2", "锅炉烟囱", OutletKind.GAS, "MN-GAS-2", "654321", 121.12, 28.12)
    enterprises = (
        Enterprise(
            "e-1",
            "台州某印染有限公司",
            "91331002MA2AAAAA1X",
            Industry.DYEING,
            "331002",
            "g-331002-0-0",
            121.11,
            28.11,
            "椒江区某路1号",
            CreditRating.YELLOW,
            permit_no="91331002MA2AAAAA1X001P",
            outlets=(water, gas),
            legal_representative="张某某",
        ),
        Enterprise(
            "e-2",
            "黄岩污水处理厂",
            "91331003MA2BBBBB2Y",
            Industry.WASTEWATER_PLANT,
            "331003",
            None,
            121.6,
            28.2,
            "黄岩区某路2号",
            CreditRating.GREEN,
            is_key=False,
            synthetic=False,
        ),
    )
    return World(
        organisations=orgs,
        districts=districts,
        grids=tuple(grids),
        officers=tuple(officers),
        squads=squads,
        enterprises=enterprises,
        city_adcode="331000",
        city_name=city_name,
        meta={"seed": "7", "generator": "hand-built"},
    )
