"""Static policy checks on the stack's files, as their readers in obsgate.stackfiles give them (no containers).

Each checker returns a list of ``Finding(file, key, line, problem, fix)`` (obsgate.core.findings); an
empty list means the file says what the policy requires. Modules: ``compose`` (images, secrets,
healthchecks, restart, volumes, exposure), ``credentials`` (secrets in mounted configs),
``loki``, ``nginx``, ``prometheus`` (rule files, alert test coverage) and ``logs``
(what a program's start-up log says about its config).
"""
