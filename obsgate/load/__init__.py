"""Load against the stack's push path: POS-shaped payloads, Locust users and shapes, the gate's
load runs and what they measured.

Only ``user``, ``locust_shapes``, ``driver`` (the child process of a gate load run) and
``bench``'s generator import Locust, which monkey-patches the process with gevent on import;
everything the pytest process imports (``payloads``, ``options``, ``shapes``, ``limits``,
``counters``, ``resources``, ``verdict``, ``session``) stays free of it.
"""
