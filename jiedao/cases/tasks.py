"""Background tasks of the case loop (django.tasks; the database worker is `jiedao db_worker`)."""

from django.tasks import task

from . import messaging


@task()
def send_outbound(message_id: int) -> str:
    """Send one queued SMS / 企业微信 message (retries are scheduled by ``messaging.deliver``)."""
    return messaging.deliver(message_id)


@task()
def send_outbound_many(message_ids: list[int]) -> dict[str, int]:
    """Send the messages queued by one transaction (e.g. a group commit of many intakes)."""
    return messaging.deliver_many(message_ids)


@task()
def send_pending() -> dict[str, int]:
    """Send every due pending message: asked for by the transactions that queue messages, one
    waiting task serving all of them (``messaging.queue_many``)."""
    return messaging.send_due()
