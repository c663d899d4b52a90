"""JSON API routes of this app, mounted by jiedao.api under /api/checker/."""

from ninja import Router

router = Router(tags=["报告校对"])
