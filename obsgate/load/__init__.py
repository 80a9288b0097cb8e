"""Load against the stack's push path: POS-shaped payloads, Locust users and shapes, the gate's
load runs and what they measured.

Only ``user``, ``locust_shapes`` and ``driver`` (the process a gate load run or the
self-benchmark runs Locust in) import Locust, which monkey-patches the process with gevent on
import; everything the pytest process imports (``payloads``, ``options``, ``shapes``,
``limits``, ``plan``, ``counters``, ``resources``, ``verdict``, ``session``, ``bench``,
``sink``, ``regressions``) stays free of it.
"""
