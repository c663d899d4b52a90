"""Changes to the organisation tree, audited."""

from jiedao.audit.trail import Actor, atomic_service, diff, record, snapshot

from .models import OrgUnit

FIELDS = ["kind", "name", "code", "parent", "is_active"]


@atomic_service
def org_unit_create(
    *, by: Actor, kind: str, name: str, code: str = "", parent: OrgUnit | None = None
) -> OrgUnit:
    unit = OrgUnit(kind=kind, name=name, code=code, parent=parent)
    unit.full_clean()
    unit.save()
    record(by=by, event_type="org.unit_create", target=unit, org_unit=unit,
           changes={k: [None, v] for k, v in snapshot(unit, FIELDS).items()})
    return unit


@atomic_service
def org_unit_update(*, by: Actor, unit: OrgUnit, **values) -> OrgUnit:
    before = snapshot(unit, FIELDS)
    for name, value in values.items():
        if name not in FIELDS:
            raise TypeError(f"unknown field {name}")
        setattr(unit, name, value)
    unit.full_clean()
    unit.save()
    changes = diff(unit, before, FIELDS)
    if changes:
        record(by=by, event_type="org.unit_update", target=unit, org_unit=unit, changes=changes)
    return unit
