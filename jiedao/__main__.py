"""``python -m jiedao …``: the same as the ``jiedao`` console script."""

import sys

from jiedao.cli import main

sys.exit(main())
