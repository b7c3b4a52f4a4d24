"""The client side of TLS for ``https://`` targets: one ``ssl.SSLContext`` both HTTP clients share.

Verification is on by default (the system's trusted CAs, the target's host name checked, SNI sent). Staging
targets often present a certificate from a private CA or a self-signed one; ``ca_cert`` (a PEM file of one
or more CA certificates) is trusted *in addition* to the system's CAs, and ``insecure`` turns verification
off altogether (k6's ``insecureSkipTLSVerify``, ``curl -k``). A certificate or handshake that fails is a
``tls`` error of that request, recorded like any other failure; only an unusable ``ca_cert`` file stops a
run before it starts (:class:`~tracereplay.errors.InputError` naming the file).
"""

from __future__ import annotations

import logging
import re
import ssl
from pathlib import Path

from tracereplay.errors import InputError

log = logging.getLogger(__name__)


def client_context(*, ca_cert: str | Path | None = None, insecure: bool = False) -> ssl.SSLContext:
    """The context every connection to an https target is opened with."""
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False  # must go first: CERT_NONE is refused while host names are checked
        context.verify_mode = ssl.CERT_NONE
    if ca_cert is not None:
        load_ca(context, ca_cert)
    return context


def load_ca(context: ssl.SSLContext, ca_cert: str | Path) -> None:
    """Trust the CA certificates of a PEM file, or raise a one-line ``InputError`` naming it."""
    path = Path(ca_cert)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise InputError(path, "no such CA certificate file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a PEM CA certificate file") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a PEM CA certificate (binary: DER? convert with openssl x509)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read the CA certificate file: {exc.strerror or exc}") from None
    # load_verify_locations accepts a file with no certificate in it at all; a CA file that trusts
    # nothing would only show later as every request failing
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise InputError(path, "not a PEM CA certificate (no -----BEGIN CERTIFICATE----- block)")
    try:
        context.load_verify_locations(cadata=text)
    except (ssl.SSLError, ValueError) as exc:
        reason = re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(exc))  # where in CPython is no help to a user
        raise InputError(path, f"not a valid PEM CA certificate ({reason})") from None


def warn_failure(detail: str, *, certificate: bool) -> None:
    """Say once (each transport calls this for its first TLS failure) what failed and what helps: the run
    records every such request as ``tls`` and goes on, which alone would leave the cause in the files."""
    helps = (
        "--ca-cert FILE trusts a private CA, --insecure skips verification"
        if certificate
        else "does the target speak TLS on that port?"
    )
    log.warning("tls: %s (each request this fails is recorded as a 'tls' error; %s)", detail, helps)
