"""The virtual field controller as a Modbus server (TCP, TCP over TLS, or RTU on a serial line).

Time model: the controller ticks every ``dt_s / speed`` wall seconds (``speed`` simulated
seconds per wall second; 1 = real time). With ``sync`` it also waits before each tick until
the bridge has acknowledged the previous one (register ``bridge_ack``), so SUMO sees every
tick even on a loaded machine; ``speed`` is then an upper bound. The heartbeat watchdog
always runs on wall time.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass

from pymodbus.server import ModbusSerialServer, ModbusTcpServer, ModbusTlsServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hil.field import VirtualFieldController
from hil.registermap import RegisterTable
from signals.errors import ConfigError, FieldDeviceError

__all__ = ["FieldServer", "ServeOptions"]

log = logging.getLogger(__name__)

_FC_HOLDING = 3
_FC_INPUT = 4


@dataclass(frozen=True)
class ServeOptions:
    """Where and how the virtual field controller listens.

    Attributes:
        host, port: TCP address (port 0 picks a free port).
        speed: simulated seconds per wall second.
        sync: wait for the bridge's acknowledgement before each tick.
        poll_s: wall seconds between two looks at the holding registers.
        serial: serial device for Modbus RTU instead of TCP.
        baudrate: serial line speed.
        sslctx: TLS server context (Modbus/TCP over TLS).
    """

    host: str = "127.0.0.1"
    port: int = 5020
    speed: float = 1.0
    sync: bool = False
    poll_s: float = 0.005
    serial: str | None = None
    baudrate: int = 19200
    sslctx: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ConfigError(f"speed must be positive, got {self.speed}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} outside 0..65535")
        if self.serial and self.sslctx is not None:
            raise ConfigError("TLS is for Modbus/TCP; it cannot be used with --serial")


def _ranges(table: RegisterTable) -> list[tuple[int, int]]:
    """The mapped address ranges ``[start, end)`` of a table, merged where they touch.

    Only these are served: a write to an unmapped register gets Modbus exception 2
    (illegal data address), like an address past the map.
    """
    spans = sorted([(f.address, f.address + f.words) for f in table.fields.values()]
                   + [(b.address, b.end()) for b in table.blocks.values()])
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _span(table: RegisterTable) -> tuple[int, int]:
    first, last = table.scalar_span()
    for block in table.blocks.values():
        first, last = min(first, block.address), max(last, block.end())
    return first, last


class FieldServer:
    """Serves a :class:`VirtualFieldController` and runs its clock on the event loop."""

    def __init__(self, controller: VirtualFieldController, options: ServeOptions) -> None:
        self.controller = controller
        self.options = options
        rm = controller.binding.regmap
        self._device_id = rm.device_id
        self._ir = _span(rm.inputs)
        self._hr = _ranges(rm.holding)
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self.address: tuple[str, int] | None = None

    def _device(self) -> SimDevice:
        ir0, ir1 = self._ir
        bits = [SimData(0, values=False, datatype=DataType.BITS)]
        holding = [SimData(a, values=[0] * (b - a), datatype=DataType.REGISTERS)
                   for a, b in self._hr]
        return SimDevice(
            id=self._device_id,
            simdata=(list(bits), list(bits), holding,
                     [SimData(ir0, values=[0] * (ir1 - ir0), datatype=DataType.REGISTERS)]))

    async def start(self) -> str:
        """Open the listener; returns a description of where it listens."""
        opts = self.options
        device = self._device()
        if opts.serial:
            self._server = ModbusSerialServer(device, port=opts.serial, baudrate=opts.baudrate,
                                              reconnect_delay=0.5)
        elif opts.sslctx is not None:
            self._server = ModbusTlsServer(device, address=(opts.host, opts.port),
                                           sslctx=opts.sslctx)
        else:
            self._server = ModbusTcpServer(device, address=(opts.host, opts.port))
        try:
            await self._server.serve_forever(background=True)
        except (OSError, RuntimeError) as exc:
            where = opts.serial or f"{opts.host}:{opts.port}"
            self._server = None
            raise FieldDeviceError(f"cannot listen on {where}: {exc}") from None
        await self._publish()
        if opts.serial:
            return f"serial {opts.serial} (RTU, {opts.baudrate} baud)"
        sockets = getattr(self._server.transport, "sockets", None) or []
        host, port = (sockets[0].getsockname()[:2] if sockets else (opts.host, opts.port))
        self.address = (host, int(port))
        scheme = "modbus+tls" if opts.sslctx is not None else "modbus"
        return f"{scheme}://{host}:{port}"

    def _running(self) -> ModbusTcpServer | ModbusSerialServer:
        if self._server is None:
            raise RuntimeError("the field server is not started")
        return self._server

    async def _read_holding(self) -> dict[int, int]:
        words: dict[int, int] = {}
        for start, end in self._hr:
            values = await self._running().async_getValues(self._device_id, _FC_HOLDING, start,
                                                           end - start)
            words.update((start + i, int(v)) for i, v in enumerate(values))
        return words

    async def _publish(self) -> None:
        start, end = self._ir
        image = [0] * (end - start)
        for addr, word in self.controller.input_words().items():
            image[addr - start] = word
        await self._running().async_setValues(self._device_id, _FC_INPUT, start, image)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick the controller until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        ctrl = self.controller
        opts = self.options
        period = ctrl.config.dt_s / opts.speed
        next_tick = loop.time() + period
        while not stop.is_set():
            now = loop.time()
            holding = await self._read_holding()
            changed = ctrl.poll(now, holding)
            if now >= next_tick and (not opts.sync or ctrl.acknowledged(holding)):
                ctrl.tick(holding)
                changed = True
                next_tick += period
                if next_tick < now:
                    next_tick = now  # never burst to catch up after a stall
            if changed:
                await self._publish()
            wait = opts.poll_s
            if not opts.sync:
                wait = min(wait, max(0.0, next_tick - loop.time()))
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
