"""The garbage collector of a long-running web worker.

What a worker has loaded by the time it serves — Django, the models, the catalogue, the URL
patterns: about 145,000 objects the cycle collector tracks — stays alive for the worker's whole
life, yet every full collection walks all of it again. Measured on the inbox page at a million
cases, one full collection came every hundred or so pages and made that page 100–140 ms slower
(the slowest of 100 pages: 156–208 ms; frozen, 55–63 ms). So each web worker, once the
application is loaded, moves what is alive then out of the collector's sight (``gc.freeze``).
Garbage in cycles is still collected; the thresholds stay CPython's (raising the youngest
generation's made no difference: an intake spends 0.05–0.08 ms in the collector).
``JIEDAO_GC_FREEZE=0`` leaves the collector as it is.
"""

from __future__ import annotations

import gc

from django.conf import settings


def tune() -> None:
    """Freeze what is alive now (a web worker after start-up; ``jiedao.wsgi`` and the inbox
    benchmark call it)."""
    if not settings.JIEDAO_GC_FREEZE:
        return
    gc.collect()
    gc.freeze()
