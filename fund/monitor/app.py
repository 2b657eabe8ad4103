"""The Streamlit script ``fund ui`` runs (the project's top-level ``app.py`` is the same)."""

import sys

from fund.monitor.views import run

run(sys.argv[1:])
