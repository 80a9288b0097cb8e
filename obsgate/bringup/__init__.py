"""Bringing the stack up and down: the compose file read and interpolated, images chosen,
per-run secrets, the stack started with testcontainers, one-off and overlay containers,
and cleanup by run label.
"""
