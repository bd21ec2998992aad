"""Domain model of the enforcement world: organisations, districts, grids, people, enterprises.

Plain frozen dataclasses so the same objects travel between the store, the hub and the
console without any framework attached. Coordinates are WGS84/CGCS2000 longitude-latitude
(EPSG:4490 ≈ EPSG:4326 at map precision); geometries are shapely objects in that datum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from shapely.geometry.base import BaseGeometry


class OrgLevel(StrEnum):
    """Levels of the organisation tree; tasks flow and are handed over between them."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    SQUAD = "squad"


class Role(StrEnum):
    """Console user roles, enforced by the hub."""

    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    COMMANDER = "commander"
    LEADER = "leader"


class OfficerRole(StrEnum):
    GRID_OFFICER = "grid_officer"  # 网格员
    SQUAD_MEMBER = "squad_member"  # 执法中队队员


class DutyStatus(StrEnum):
    ON_DUTY = "on_duty"
    OFF_DUTY = "off_duty"
    ON_LEAVE = "on_leave"


class Industry(StrEnum):
    """Industries of the seed's key enterprises."""

    DYEING = "dyeing"  # 印染
    ELECTROPLATING = "electroplating"  # 电镀
    PHARMA_CHEMICAL = "pharma_chemical"  # 医化
    PLASTIC_PELLETS = "plastic_pellets"  # 塑料造粒
    BOILER_POWER = "boiler_power"  # 锅炉 / 电厂
    WASTEWATER_PLANT = "wastewater_plant"  # 污水处理厂


class CreditRating(StrEnum):
    """Enterprise environmental credit rating (企业环境信用评价), five colours as in Zhejiang."""

    GREEN = "green"  # 环保诚信
    BLUE = "blue"  # 环保良好
    YELLOW = "yellow"  # 环保警示
    RED = "red"  # 环保不良
    BLACK = "black"  # 环保严重失信


class OutletKind(StrEnum):
    WATER = "water"
    GAS = "gas"


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    level: OrgLevel
    parent_id: str | None
    adcode: str | None = None


@dataclass(frozen=True, slots=True)
class District:
    """A county-level district (区/县/县级市); its boundary is in WGS84."""

    adcode: str
    name: str
    org_id: str
    boundary: BaseGeometry


@dataclass(frozen=True, slots=True)
class Grid:
    """A management grid (网格): a polygon inside one district, owned by one grid officer."""

    id: str
    name: str
    district_adcode: str
    geometry: BaseGeometry
    officer_id: str | None


@dataclass(frozen=True, slots=True)
class Officer:
    id: str
    name: str
    role: OfficerRole
    org_id: str
    district_adcode: str
    grid_id: str | None = None
    squad_id: str | None = None
    phone: str = ""
    badge_no: str = ""  # enforcement ID number (执法证号)
    duty: DutyStatus = DutyStatus.ON_DUTY


@dataclass(frozen=True, slots=True)
class Squad:
    """An enforcement squad (执法中队) with its base; distances are measured from the base."""

    id: str
    name: str
    org_id: str
    district_adcode: str
    lon: float
    lat: float
    available: bool = True


@dataclass(frozen=True, slots=True)
class PermitLimit:
    """A pollutant limit from the discharge permit; codes are HJ 212-2017 codes."""

    code: str
    name: str
    unit: str
    limit: float
    lower_limit: float | None = None  # pH has a range
    annual_quota_kg: float | None = None
    monthly_quota_kg: float | None = None
    """Total-quantity quotas of the permit (刷卡排污), kg of the pollutant per year / month."""


@dataclass(frozen=True, slots=True)
class Outlet:
    id: str
    name: str
    kind: OutletKind
    mn: str  # HJ 212 device id of the outlet's data logger
    password: str  # HJ 212 PW the station sends
    lon: float
    lat: float
    limits: tuple[PermitLimit, ...] = ()


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: str
    name: str
    credit_code: str  # 统一社会信用代码
    industry: Industry
    district_adcode: str
    grid_id: str | None
    lon: float
    lat: float
    address: str
    credit_rating: CreditRating
    is_key: bool = True  # 重点排污单位
    permit_no: str = ""
    outlets: tuple[Outlet, ...] = ()
    synthetic: bool = True
    legal_representative: str = ""  # 法定代表人, as on the business licence


@dataclass(frozen=True, slots=True)
class World:
    """Everything the dispatcher's map and the locator need, loaded at once."""

    organisations: tuple[Organisation, ...] = ()
    districts: tuple[District, ...] = ()
    grids: tuple[Grid, ...] = ()
    officers: tuple[Officer, ...] = ()
    squads: tuple[Squad, ...] = ()
    enterprises: tuple[Enterprise, ...] = ()
    city_adcode: str = ""
    city_name: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, int | str]:
        return {
            "city": self.city_name,
            "adcode": self.city_adcode,
            "organisations": len(self.organisations),
            "districts": len(self.districts),
            "grids": len(self.grids),
            "officers": len(self.officers),
            "squads": len(self.squads),
            "enterprises": len(self.enterprises),
        }


@dataclass(frozen=True, slots=True)
class User:
    """A console user. ``password_hash`` is a self-describing scrypt string (core.passwords)."""

    username: str
    display_name: str
    role: Role
    org_id: str
    password_hash: str
    active: bool = True
