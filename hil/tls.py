"""TLS contexts for Modbus/TCP over TLS (Modbus/TCP Security, port 802 by convention)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from signals.errors import ConfigError

__all__ = ["TlsFiles", "client_context", "server_context"]


@dataclass(frozen=True)
class TlsFiles:
    """Certificate files given on the command line.

    Attributes:
        cert: own certificate (PEM); required for the server, optional for the client.
        key: private key of ``cert`` (PEM).
        ca: CA bundle that signs the peer's certificate; the server then requires client
            certificates (mutual TLS), the client verifies the server against it.
    """

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    @property
    def enabled(self) -> bool:
        """Whether any TLS file was given."""
        return any(p is not None for p in (self.cert, self.key, self.ca))


def _check(path: Path | None, what: str) -> None:
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"TLS {what} {path} does not exist")


def _load_chain(ctx: ssl.SSLContext, files: TlsFiles) -> None:
    if (files.cert is None) != (files.key is None):
        raise ConfigError("TLS needs both --tls-cert and --tls-key")
    if files.cert is not None:
        _check(files.cert, "certificate")
        _check(files.key, "key")
        try:
            ctx.load_cert_chain(str(files.cert), str(files.key))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"TLS certificate {files.cert} / key {files.key} not usable: "
                              f"{exc}") from None


def _load_ca(ctx: ssl.SSLContext, ca: Path) -> None:
    _check(ca, "CA file")
    try:
        ctx.load_verify_locations(cafile=str(ca))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"TLS CA file {ca} not usable: {exc}") from None


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """Server side: own certificate; with a CA, client certificates are required."""
    if files.cert is None:
        raise ConfigError("a TLS server needs --tls-cert and --tls-key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, files)
    if files.ca is not None:
        _load_ca(ctx, files.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """Client side: verifies the server against ``ca`` (or the system store) and its name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.ca is not None:
        _load_ca(ctx, files.ca)
    else:
        ctx.load_default_certs()
    _load_chain(ctx, files)
    return ctx
