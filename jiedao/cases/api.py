"""JSON API routes of this app, mounted by jiedao.api under /api/cases/."""

from ninja import Router

router = Router(tags=["工单"])
