"""JSON API routes of this app, mounted by jiedao.api under /api/records/."""

from ninja import Router

router = Router(tags=["工作记录"])
