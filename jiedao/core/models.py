"""The organisation: District → Street → Community → Grid, and Departments under a Street.

One table with a ``kind`` keeps scoping to a single question — "is this unit inside that
one?" — answered by a materialised ``path`` prefix, so a membership on a street covers its
communities, grids and departments without recursive queries.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .regions import validate_region_code


class OrgUnitKind(models.TextChoices):
    DISTRICT = "district", _("区")
    STREET = "street", _("街道")
    COMMUNITY = "community", _("社区")
    GRID = "grid", _("网格")
    DEPARTMENT = "department", _("科室")


# Which kind of unit may sit under which.
ALLOWED_PARENTS: dict[str, tuple[str, ...]] = {
    OrgUnitKind.DISTRICT: (),
    OrgUnitKind.STREET: (OrgUnitKind.DISTRICT,),
    OrgUnitKind.COMMUNITY: (OrgUnitKind.STREET,),
    OrgUnitKind.GRID: (OrgUnitKind.COMMUNITY,),
    OrgUnitKind.DEPARTMENT: (OrgUnitKind.STREET,),
}


class OrgUnit(models.Model):
    kind = models.CharField(_("类型"), max_length=16, choices=OrgUnitKind.choices)
    name = models.CharField(_("名称"), max_length=100)
    code = models.CharField(
        _("区划代码"),
        max_length=20,
        blank=True,
        help_text=_("GB/T 2260:区 6 位、街道 9 位、社区 12 位;网格为社区代码加 3 位;科室可空"),
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    # "/<id>/<id>/…/" from the root; maintained by save(); scoping is a prefix match.
    path = models.CharField(max_length=255, editable=False, db_index=True, default="")
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("组织单位")
        verbose_name_plural = _("组织单位")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=~models.Q(code=""), name="orgunit_code_unique"
            ),
            models.UniqueConstraint(fields=["parent", "name"], name="orgunit_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)  # a new row needs its id before its path
        new_path = (self.parent.path if self.parent else "/") + f"{self.pk}/"
        if new_path != self.path:
            old_path, self.path = self.path, new_path
            OrgUnit.objects.filter(pk=self.pk).update(path=new_path)
            if old_path:  # moving a unit moves its subtree
                subtree = OrgUnit.objects.filter(path__startswith=old_path).exclude(pk=self.pk)
                for pk, path in subtree.values_list("pk", "path"):
                    OrgUnit.objects.filter(pk=pk).update(path=new_path + path[len(old_path):])

    def clean(self) -> None:
        allowed = ALLOWED_PARENTS[self.kind]
        if allowed and (self.parent is None or self.parent.kind not in allowed):
            raise ValidationError(
                {"parent": _("%(kind)s 的上级必须是%(parents)s")
                 % {"kind": self.get_kind_display(),
                    "parents": "、".join(str(OrgUnitKind(k).label) for k in allowed)}}
            )
        if not allowed and self.parent is not None:
            raise ValidationError({"parent": _("区是最高一级,不能有上级")})
        parent_code = self.parent.code if self.parent else ""
        validate_region_code(self.kind, self.code, parent_code)

    # --- the questions access control asks -------------------------------------------
    def contains(self, other: "OrgUnit") -> bool:
        return other.path.startswith(self.path)

    @property
    def street(self) -> "OrgUnit | None":
        """The street this unit belongs to (itself for a street, None above it)."""
        if self.kind == OrgUnitKind.STREET:
            return self
        ids = [int(p) for p in self.path.strip("/").split("/") if p]
        return OrgUnit.objects.filter(pk__in=ids, kind=OrgUnitKind.STREET).first()

    def ancestors(self) -> models.QuerySet["OrgUnit"]:
        ids = [int(p) for p in self.path.strip("/").split("/") if p]
        return OrgUnit.objects.filter(pk__in=ids).exclude(pk=self.pk).order_by("path")
