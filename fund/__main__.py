"""``python -m fund``: the same as the ``fund`` command."""

import sys

from fund.cli import main

sys.exit(main())
