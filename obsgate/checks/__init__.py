"""The checks' judgement logic, one module (or subpackage) per suite.

Gate checks under ``tests/`` call into here: ``static`` (file policy), ``acceptance``
(configs put to the real programs), ``stackfiles``/``nginxconf`` (facts read from the
mounted configs), ``logs``, ``edge``, ``alerting`` and ``grafana``.
"""
