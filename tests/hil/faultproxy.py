"""A Modbus/TCP man-in-the-middle for fault injection: delays, garbage, conflicting greens and
frozen values in the controller's answers, on real loopback sockets."""

from __future__ import annotations

import asyncio
import random
import threading

from hil.codec import JunctionBinding

_INPUT_READ = 4


class FaultProxy:
    """Forwards Modbus/TCP between the adapter and a server, corrupting answers on demand.

    ``mode``: ``pass``; ``garbage`` (random input-register values); ``conflict`` (two
    conflicting groups shown green); ``freeze`` (input registers replay their first answer);
    ``camera`` (every camera slot's ``valid`` flag out of range).
    ``delay_s`` delays every answer.
    """

    def __init__(self, target_port: int, binding: JunctionBinding) -> None:
        self.target_port = target_port
        self.binding = binding
        self.mode = "pass"
        self.delay_s = 0.0
        self.port = 0
        self._rng = random.Random(3)
        self._frozen: dict[tuple[int, int], bytes] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        model = binding.model
        a, b = sorted(sorted(pair) for pair in model.conflicts)[0]
        self._conflict_slots = (model.index_of(a), model.index_of(b))

    def start(self) -> int:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = fut.result(5)
        return self.port

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.close()
        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_w))
        pending: dict[int, tuple[int, int, int]] = {}
        await asyncio.gather(self._pump(reader, up_w, pending, False),
                             self._pump(up_r, writer, pending, True),
                             return_exceptions=True)
        for w in (writer, up_w):
            w.close()
            self._writers.discard(w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    pending: dict[int, tuple[int, int, int]], answers: bool) -> None:
        try:
            while True:
                head = await reader.readexactly(7)
                length = int.from_bytes(head[4:6], "big")
                body = await reader.readexactly(length - 1)
                tid = int.from_bytes(head[0:2], "big")
                if not answers:
                    if body[0] == _INPUT_READ and len(body) >= 5:
                        pending[tid] = (body[0], int.from_bytes(body[1:3], "big"),
                                        int.from_bytes(body[3:5], "big"))
                else:
                    request = pending.pop(tid, None)
                    if request is not None and body[0] == _INPUT_READ:
                        body = self._corrupt(body, request[1], request[2])
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            writer.close()

    def _corrupt(self, body: bytes, address: int, count: int) -> bytes:
        data = bytearray(body[2:])
        regs = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
        mode = self.mode
        if mode == "freeze":
            key = (address, count)
            if key not in self._frozen:
                self._frozen[key] = bytes(body)
            return self._frozen[key]
        self._frozen.clear()
        if mode == "garbage":
            regs = [self._rng.randrange(0x10000) for _ in regs]
        elif mode == "conflict":
            rm = self.binding.regmap
            block = rm.inputs.blocks["groups"]
            green = rm.code("group_state", "green")
            for slot in self._conflict_slots:
                addr = block.slot_address(slot) + block.fields["state"].address
                if address <= addr < address + count:
                    regs[addr - address] = green
        elif mode == "camera":
            block = self.binding.regmap.inputs.blocks["cameras"]
            for slot in range(len(self.binding.lanes)):
                addr = block.slot_address(slot) + block.fields["valid"].address
                if address <= addr < address + count:
                    regs[addr - address] = 7
        else:
            return body
        return body[:2] + b"".join(r.to_bytes(2, "big") for r in regs)
