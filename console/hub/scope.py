"""Organisation scope: which districts a user may see, derived from the organisation tree.

A city or province organisation sees every district below it; a county bureau sees its own
district; a squad sees the district of its county bureau. Everything the hub sends (method
results and events) is filtered through a Scope. Owned things (tasks) are visible only to
their owning organisation and the organisations above it, so a task handed up from a county
to the city leaves the county's methods and its event stream alike (:meth:`Scope.sees`).
"""

from __future__ import annotations

from dataclasses import dataclass

from console.core.model import OrgLevel, World


@dataclass(frozen=True, slots=True)
class Scope:
    """The organisation a user acts for and the district adcodes it covers."""

    org_id: str
    districts: frozenset[str]
    org_ids: frozenset[str]  # the organisation, its ancestors and its descendants
    descendant_org_ids: frozenset[str] = frozenset()  # strictly below the organisation

    def covers(self, district_adcode: str | None) -> bool:
        """Whether something in ``district_adcode`` is visible; None means global."""
        return district_adcode is None or district_adcode in self.districts

    @property
    def owned(self) -> frozenset[str]:
        """The organisation and every organisation below it: whose tasks the user may see."""
        return self.descendant_org_ids | {self.org_id}

    def owns(self, owner_org_id: str | None) -> bool:
        """Whether something owned by ``owner_org_id`` is visible; None means unowned."""
        return (
            owner_org_id is None
            or owner_org_id == self.org_id
            or owner_org_id in self.descendant_org_ids
        )

    def sees(self, district_adcode: str | None, owner_org_id: str | None = None) -> bool:
        """The one visibility rule of methods and events: district covered and owner owned."""
        return self.covers(district_adcode) and self.owns(owner_org_id)

    @property
    def key(self) -> tuple[str, ...]:
        """Cache key: two users with the same key see exactly the same world snapshot."""
        return (*sorted(self.districts), "|", *sorted(self.org_ids))


class UnknownOrganisationError(ValueError):
    pass


def scope_for(world: World, org_id: str) -> Scope:
    """Scope of a user of organisation ``org_id`` in ``world``."""
    orgs = {org.id: org for org in world.organisations}
    org = orgs.get(org_id)
    if org is None:
        raise UnknownOrganisationError(f"organisation {org_id!r} is not in the loaded world")
    children: dict[str, list[str]] = {}
    for item in world.organisations:
        if item.parent_id is not None:
            children.setdefault(item.parent_id, []).append(item.id)

    descendants = _closure(org_id, children)
    ancestors: list[str] = []
    parent = org.parent_id
    while parent is not None and parent in orgs and parent not in ancestors:
        ancestors.append(parent)
        parent = orgs[parent].parent_id

    districts = _districts_of(world, descendants)
    if not districts and org.level == OrgLevel.SQUAD:
        # A squad works in its county bureau's district.
        for ancestor in ancestors:
            districts = _districts_of(world, {ancestor})
            if districts:
                break
    return Scope(
        org_id=org_id,
        districts=frozenset(districts),
        org_ids=frozenset(descendants | set(ancestors)),
        descendant_org_ids=frozenset(descendants - {org_id}),
    )


def _closure(root: str, children: dict[str, list[str]]) -> set[str]:
    seen = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _districts_of(world: World, org_ids: set[str]) -> set[str]:
    """Districts run by one of ``org_ids`` or carrying one of their adcodes."""
    adcodes = {
        org.adcode for org in world.organisations if org.id in org_ids and org.adcode is not None
    }
    return {
        district.adcode
        for district in world.districts
        if district.org_id in org_ids or district.adcode in adcodes
    }
