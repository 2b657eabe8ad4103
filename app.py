"""The agentfund monitoring UI (Streamlit). Start it with ``fund ui [JOURNAL_URL]``, or
``streamlit run app.py -- --journal JOURNAL_URL [--runs DIR]``."""

import sys

from fund.monitor.views import run

run(sys.argv[1:])
