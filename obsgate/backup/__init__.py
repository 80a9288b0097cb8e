"""Back up and restore the stack's named volumes: the gate's drill and ``python -m obsgate backup`` / ``restore``."""
