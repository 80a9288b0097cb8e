"""Loki push load, POS-shaped: ``locust -f tests/load/locustfile.py --host https://127.0.0.1:PORT``.

Everything lives in ``obsgate.load``; this file only names what Locust should find. See
docs/load.md (``obsgate up`` prints the target and credentials).
"""

from obsgate.load import workers  # noqa: F401  (a --worker answers the gate driver's snapshots)
from obsgate.load.locust_shapes import PosShape, ProfileShape, SoakShape, StepShape  # noqa: F401  (PosShape first: the default)
from obsgate.load.user import LokiPushUser, LokiQueryUser  # noqa: F401
from obsgate.load.webui import listen

listen()   # the web UI's obs-gate tab and the end-of-run summary, in lines/s
