"""The client side of the Modbus link: one connection to a field controller.

Wraps a synchronous pymodbus client (TCP, TCP over TLS, or RTU on a serial line) and turns
every failure into one of two exceptions: :class:`LinkError` (transport failure, timeout,
device exception) and :class:`~hil.registermap.DecodeError` (a value that makes no sense).
A request with no answer fails after ``timeout_s * (retries + 1)``.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus.client import ModbusSerialClient, ModbusTcpClient, ModbusTlsClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from hil.codec import (
    DetectorValue,
    FieldSnapshot,
    JunctionBinding,
    RegisterImage,
    decode_cameras,
    decode_detectors,
    decode_status,
    plan_reads,
)
from hil.registermap import MAX_WRITE, FieldSpec
from scenarios.sensing import CameraReading
from signals.errors import ConfigError

__all__ = ["FieldLink", "LinkError", "LinkOptions", "parse_target"]

log = logging.getLogger(__name__)


class LinkError(Exception):
    """The field controller did not answer, or answered with a Modbus exception."""


def parse_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); ValueError with one clear line otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"target {text!r} must be HOST:PORT")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"target {text!r}: port {port!r} is not a number") from None
    if not 1 <= number <= 65535:
        raise ConfigError(f"target {text!r}: port {number} outside 1..65535")
    return host.strip("[]"), number


@dataclass(frozen=True)
class LinkOptions:
    """How to reach the field controller.

    Attributes:
        host, port: Modbus/TCP address (ignored with ``serial``).
        serial: serial device for Modbus RTU.
        baudrate: serial line speed.
        sslctx: TLS client context (Modbus/TCP over TLS).
        timeout_s: seconds to wait for one answer.
        retries: further attempts after a timeout.
    """

    host: str = "127.0.0.1"
    port: int = 5020
    serial: str | None = None
    baudrate: int = 19200
    sslctx: ssl.SSLContext | None = None
    timeout_s: float = 0.1
    retries: int = 1

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout must be positive, got {self.timeout_s}")
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries}")

    @property
    def worst_case_s(self) -> float:
        """Longest time one request can take before it fails."""
        return self.timeout_s * (self.retries + 1)

    def describe(self) -> str:
        """Human-readable address."""
        if self.serial:
            return f"serial {self.serial}"
        return f"{'modbus+tls' if self.sslctx else 'modbus'}://{self.host}:{self.port}"


class _TlsClient(ModbusTlsClient):
    """pymodbus' sync TLS client, but verifying the server's host name (SNI)."""

    def connect(self) -> bool:
        if self.socket:
            return True
        params = self.comm_params
        try:
            raw = socket.create_connection((params.host, params.port),
                                           timeout=params.timeout_connect)
            try:
                # a TLS client always has its context (set in _make_client)
                self.socket = params.sslctx.wrap_socket(  # type: ignore[union-attr]
                    raw, server_side=False, server_hostname=params.host)
            except (OSError, ssl.SSLError):
                raw.close()
                raise
            self.socket.settimeout(params.timeout_connect)
        except (OSError, ssl.SSLError) as exc:
            log.debug("TLS connection to %s:%s failed: %s", params.host, params.port, exc)
            self.socket = None
        return self.socket is not None


class FieldLink:
    """Reads snapshots from and writes commands to one field controller."""

    def __init__(self, binding: JunctionBinding, options: LinkOptions) -> None:
        self.binding = binding
        self.options = options
        self._rm = binding.regmap
        self._client: ModbusTcpClient | ModbusSerialClient | None = None
        self._status_reads = plan_reads(binding.status_ranges())
        self._detector_reads = plan_reads(binding.detector_ranges())
        self._camera_reads = plan_reads(binding.camera_ranges())
        self.requests = 0

    @property
    def connected(self) -> bool:
        """Whether a connection is open."""
        return self._client is not None

    def _make_client(self) -> ModbusTcpClient | ModbusSerialClient:
        o = self.options
        if o.serial:
            return ModbusSerialClient(o.serial, framer=FramerType.RTU, baudrate=o.baudrate,
                                      timeout=o.timeout_s, retries=o.retries)
        if o.sslctx is not None:
            return _TlsClient(o.host, port=o.port, sslctx=o.sslctx, timeout=o.timeout_s,
                              retries=o.retries)
        return ModbusTcpClient(o.host, port=o.port, timeout=o.timeout_s, retries=o.retries)

    def connect(self) -> None:
        """Open the connection; LinkError when the controller cannot be reached."""
        self.close()
        client = self._make_client()
        try:
            ok = client.connect()
        except (OSError, ModbusException, ssl.SSLError) as exc:
            ok = False
            log.debug("connect failed: %s", exc)
        if not ok:
            client.close()
            raise LinkError(f"cannot connect to {self.options.describe()}")
        self._client = client

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._client is not None:
            try:
                self._client.close()
            except OSError:
                pass
            self._client = None

    def _call(self, what: str, fn: Callable[..., Any] | None, *args: Any,
              **kwargs: Any) -> Any:
        if self._client is None or fn is None:  # fn is None without a client
            raise LinkError("not connected")
        self.requests += 1
        try:
            rr = fn(*args, device_id=self._rm.device_id, **kwargs)
        except (ModbusException, OSError, ssl.SSLError, ValueError) as exc:
            self.close()
            raise LinkError(f"{what}: {exc}") from None
        if rr is None or rr.isError():
            raise LinkError(f"{what}: controller answered with an error ({rr})")
        return rr

    def _read_input(self, reads: list[tuple[int, int]], image: RegisterImage) -> None:
        client = self._client
        for start, count in reads:
            rr = self._call(f"read input registers {start}+{count}",
                            client.read_input_registers if client else None, start, count=count)
            if len(rr.registers) != count:
                raise LinkError(f"read input registers {start}+{count}: got "
                                f"{len(rr.registers)} registers")
            image.put(start, rr.registers)

    def read_status(self) -> FieldSnapshot:
        """Header and signal-group slots, decoded and range-checked."""
        image = RegisterImage()
        self._read_input(self._status_reads, image)
        return decode_status(self.binding, image)

    def read_detectors(self) -> tuple[DetectorValue, ...]:
        """The junction's detector slots, decoded and range-checked."""
        image = RegisterImage()
        self._read_input(self._detector_reads, image)
        return decode_detectors(self.binding, image)

    def read_cameras(self) -> tuple[CameraReading, ...]:
        """The camera slot of every lane, decoded and range-checked (a profile with camera
        registers only; a dropout reads as all-None)."""
        if not self._camera_reads:
            raise ConfigError(f"profile {self._rm.profile} has no camera registers")
        image = RegisterImage()
        self._read_input(self._camera_reads, image)
        return decode_cameras(self.binding, image)

    def read_holding(self, name: str) -> int:
        """Raw value of holding field ``name`` (e.g. ``command_seq``)."""
        spec = self._rm.holding.fields[name]
        client = self._client
        rr = self._call(f"read {name}", client.read_holding_registers if client else None,
                        spec.address, count=spec.words)
        words = list(rr.registers)
        return (words[0] << 16 | words[1]) if spec.words == 2 else words[0]

    def write(self, values: Mapping[str, int], last: str | None = "command_seq") -> None:
        """Write holding fields by name; contiguous fields go in one request and the run
        holding ``last`` is written last (a command becomes valid when its seq changes)."""
        words: dict[int, int] = {}
        owner: dict[int, str] = {}
        for name, raw in values.items():
            spec: FieldSpec = self._rm.holding.fields[name]
            for i, w in enumerate(self._rm.encode(spec, raw)):
                words[spec.address + i] = w
                owner[spec.address + i] = name
        self._write_words(words, owner, last)

    def write_slots(self, block: str, rows: Sequence[Mapping[str, int]],
                    extra: Mapping[str, int] | None = None) -> None:
        """Write slots ``0..len(rows)-1`` of holding block ``block`` (plus scalar ``extra``)."""
        spec = self._rm.holding.blocks[block]
        words: dict[int, int] = {}
        owner: dict[int, str] = {}
        for slot, row in enumerate(rows):
            base = spec.slot_address(slot)
            for name, raw in row.items():
                f = spec.fields[name]
                for i, w in enumerate(self._rm.encode(f, raw)):
                    words[base + f.address + i] = w
                    owner[base + f.address + i] = block
        for name, raw in (extra or {}).items():
            f = self._rm.holding.fields[name]
            for i, w in enumerate(self._rm.encode(f, raw)):
                words[f.address + i] = w
                owner[f.address + i] = name
        self._write_words(words, owner, next(iter(extra)) if extra else None)

    def _write_words(self, words: dict[int, int], owner: dict[int, str],
                     last: str | None) -> None:
        runs: list[list[int]] = []
        for addr in sorted(words):
            if runs and addr == runs[-1][-1] + 1 and len(runs[-1]) < MAX_WRITE:
                runs[-1].append(addr)
            else:
                runs.append([addr])
        runs.sort(key=lambda run: any(owner[a] == last for a in run))
        client = self._client
        for run in runs:
            self._call(f"write registers {run[0]}+{len(run)}",
                       client.write_registers if client else None, run[0],
                       [words[a] for a in run])
