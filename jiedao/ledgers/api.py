"""JSON API routes of this app, mounted by jiedao.api under /api/ledgers/."""

from ninja import Router

router = Router(tags=["台账"])
