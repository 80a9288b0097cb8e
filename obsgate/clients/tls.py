"""The gate's one way to make a verifying TLS client context: strict on every Python.

Python 3.13 made ``ssl.create_default_context`` set ``VERIFY_X509_STRICT`` and
``VERIFY_X509_PARTIAL_CHAIN``: OpenSSL then refuses certificates outside RFC 5280's profile
(e.g. a CA without a Subject Key Identifier, a leaf without an Authority Key Identifier).
The gate sets the same flags itself, so a run on 3.11 or 3.12 fails exactly where 3.13+
would, instead of passing here and breaking on a user's newer Python.

Standard library only: the Locust process (``obsgate.load.user``) imports this too.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

# What Python 3.13+'s ssl.create_default_context adds to OpenSSL's defaults.
STRICT_FLAGS = ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN


def client_context(cafile: Path | str | None,
                   create: Callable[..., ssl.SSLContext] = ssl.create_default_context) -> ssl.SSLContext:
    """A client context trusting ``cafile`` (the system store if None), verifying as Python 3.13+ does.

    ``create`` is ``ssl.create_default_context`` or a drop-in such as ``gevent.ssl.create_default_context``.
    """
    context = create(cafile=str(cafile) if cafile is not None else None)
    context.verify_flags |= STRICT_FLAGS
    return context


def unverified_context() -> ssl.SSLContext:
    """A client context that verifies nothing: only for ``--target-no-verify``, asked for explicitly."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
