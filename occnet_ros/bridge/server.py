"""WebSocket server core of the Unity bridge (asyncio + websockets; no ROS).

- latest-only per object and client: a slow client gets the newest mesh of each object, never
  a growing backlog, and never slows the publisher (``publish`` only swaps a dict entry);
- frames above ``max_frame_bytes`` are not sent; clients get a DROP_NOTICE instead;
- HELLO with protocol version and optional token first, then WELCOME and a full-state
  snapshot (so a reconnecting client is complete again); heartbeats both ways; clients
  silent for ``client_timeout_s`` are evicted; a client limit; optional TLS; loopback default.
Runs in its own thread with its own event loop; ``publish``/``remove`` are thread-safe.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from occnet_ros.bridge import protocol as p

log = logging.getLogger(__name__)
VIEWER_DIR = Path(__file__).resolve().parent / "viewer"


@dataclass(frozen=True)
class BridgeSettings:
    host: str = "127.0.0.1"
    port: int = 9190
    token: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    max_clients: int = 8
    max_frame_bytes: int = 4_000_000
    heartbeat_s: float = 1.0
    client_timeout_s: float = 5.0
    hello_timeout_s: float = 5.0
    serve_viewer: bool = True


@dataclass
class Client:
    connection: ServerConnection
    session: int
    pending: dict[int, bytes] = field(default_factory=dict)  # object id -> newest frame
    control: list[bytes] = field(default_factory=list)  # removals, drop notices (in order)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_heard: float = field(default_factory=time.monotonic)


class BridgeServer:
    """Start with ``start()`` (returns the bound port), stop with ``stop()``."""

    def __init__(self, settings: BridgeSettings = BridgeSettings()) -> None:
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise ValueError("TLS needs both tls_cert and tls_key")
        self.settings = settings
        self.state: dict[int, tuple[p.MeshUpdate, bytes]] = {}
        self.clients: dict[int, Client] = {}
        self.sessions = itertools.count(1)
        self.stats = {"sent": 0, "dropped_too_large": 0, "coalesced": 0, "refused": 0, "evicted": 0, "bad_frames": 0}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.port: int | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._closing: set[asyncio.Task] = set()  # evictions in progress (strong references)

    # ---- thread-safe API --------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> int:
        self.thread = threading.Thread(target=self._run, name="occnet-bridge", daemon=True)
        self.thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"bridge server did not start: {self._error}")
        return self.port

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            try:
                self.loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # already stopped: the loop is closed
                pass
        if self.thread is not None:
            self.thread.join(timeout=5.0)

    def publish(self, update: p.MeshUpdate) -> None:
        frame = p.encode_mesh(update)
        self._call(self._publish, update, frame)

    def remove(self, object_id: int, sequence: int) -> None:
        self._call(self._remove, object_id, sequence)

    def _call(self, fn, *args) -> None:
        if self.loop is None:
            raise RuntimeError("bridge server is not running")
        self.loop.call_soon_threadsafe(fn, *args)

    # ---- event loop side --------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported to start() / logged
            self._error = error
            self._ready.set()
            log.exception("bridge server stopped with an error")

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.settings.tls_cert:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        return context

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        s = self.settings
        async with serve(self._handle, s.host, s.port, ssl=self._ssl(), max_size=1 << 16,
                         process_request=self._http if s.serve_viewer else None,
                         ping_interval=None, compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            heartbeat = asyncio.create_task(self._heartbeat())
            await self._stop.wait()
            heartbeat.cancel()

    def _http(self, connection, request):
        """Serve the browser viewer's static files on plain HTTP GETs; WebSocket upgrades pass."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        name = request.path.split("?")[0].lstrip("/") or "index.html"
        path = (VIEWER_DIR / name).resolve()
        if VIEWER_DIR not in path.parents or not path.is_file():
            return Response(404, "Not Found", Headers([("Content-Type", "text/plain")]), b"not found\n")
        kind = {"html": "text/html", "js": "text/javascript", "css": "text/css"}.get(path.suffix.lstrip("."), "application/octet-stream")
        return Response(200, "OK", Headers([("Content-Type", kind)]), path.read_bytes())

    def _publish(self, update: p.MeshUpdate, frame: bytes) -> None:
        self.state[update.object_id] = (update, frame)
        for client in self.clients.values():
            self._offer(client, update, frame)

    def _offer(self, client: Client, update: p.MeshUpdate, frame: bytes) -> None:
        if len(frame) > self.settings.max_frame_bytes:
            self.stats["dropped_too_large"] += 1
            client.control.append(p.encode_drop(update.object_id, update.sequence, p.DropReason.FRAME_TOO_LARGE, len(frame)))
        else:
            if update.object_id in client.pending:
                self.stats["coalesced"] += 1
            client.pending[update.object_id] = frame
        client.wake.set()

    def _remove(self, object_id: int, sequence: int) -> None:
        self.state.pop(object_id, None)
        for client in self.clients.values():
            client.pending.pop(object_id, None)
            client.control.append(p.encode_removed(object_id, sequence))
            client.wake.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            now = time.monotonic()
            for client in list(self.clients.values()):
                if now - client.last_heard > self.settings.client_timeout_s:
                    self.stats["evicted"] += 1
                    log.info("evicting silent client %d", client.session)
                    # close in the background: the closing handshake with a client that does not
                    # read waits close_timeout (10 s) and must not stall everyone's heartbeats
                    self.clients.pop(client.session, None)
                    closing = asyncio.create_task(client.connection.close(code=1001, reason="heartbeat timeout"))
                    self._closing.add(closing)
                    closing.add_done_callback(self._closing.discard)
                    continue
                client.control.append(p.encode_heartbeat(time.time()))
                client.wake.set()

    async def _refuse(self, connection: ServerConnection, code: p.ErrorCode, message: str) -> None:
        self.stats["refused"] += 1
        try:
            await connection.send(p.encode_error(code, message))
            await connection.close(code=1008, reason=message[:100])
        except ConnectionClosed:
            pass

    async def _handshake(self, connection: ServerConnection) -> bool:
        try:
            raw = await asyncio.wait_for(connection.recv(), self.settings.hello_timeout_s)
            frame = p.decode(raw)
        except (asyncio.TimeoutError, p.ProtocolError, ConnectionClosed) as error:
            await self._refuse(connection, p.ErrorCode.HELLO_EXPECTED, f"expected HELLO: {error}")
            return False
        if frame.type != p.FrameType.HELLO:
            await self._refuse(connection, p.ErrorCode.HELLO_EXPECTED, "the first frame must be HELLO")
            return False
        if frame.fields["version"] != p.VERSION:
            await self._refuse(connection, p.ErrorCode.UNSUPPORTED_VERSION, f"server speaks version {p.VERSION}")
            return False
        if self.settings.token and frame.fields["token"] != self.settings.token:
            await self._refuse(connection, p.ErrorCode.BAD_TOKEN, "bad token")
            return False
        if len(self.clients) >= self.settings.max_clients:
            await self._refuse(connection, p.ErrorCode.TOO_MANY_CLIENTS, f"limit of {self.settings.max_clients} clients reached")
            return False
        return True

    async def _handle(self, connection: ServerConnection) -> None:
        if not await self._handshake(connection):
            return
        client = Client(connection, next(self.sessions))
        self.clients[client.session] = client
        log.info("client %d connected from %s", client.session, connection.remote_address)
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for raw in connection:
                client.last_heard = time.monotonic()
                try:
                    frame = p.decode(raw)
                    if frame.type != p.FrameType.HEARTBEAT:
                        raise p.ProtocolError(f"clients may only send HEARTBEAT after HELLO, not {frame.type.name}")
                except p.ProtocolError as error:
                    # a malformed client frame closes that client only (after telling it why)
                    self.stats["bad_frames"] += 1
                    log.warning("client %d sent a bad frame (%s); closing it", client.session, error)
                    sender.cancel()
                    await connection.send(p.encode_error(p.ErrorCode.BAD_FRAME, str(error)))
                    await connection.close(code=1002, reason="bad frame")
                    break
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            self.clients.pop(client.session, None)
            log.info("client %d disconnected", client.session)

    async def _send_loop(self, client: Client) -> None:
        connection = client.connection
        try:
            await connection.send(p.encode_welcome(client.session, len(self.state)))
            snapshot = list(self.state.values())
            await connection.send(p.encode_snapshot_begin(len(snapshot)))
            for update, frame in snapshot:
                self._offer(client, update, frame)
            await self._flush(client)
            await connection.send(p.encode_snapshot_end(len(snapshot)))
            while True:
                await client.wake.wait()
                client.wake.clear()
                await self._flush(client)
        except ConnectionClosed:
            pass

    async def _flush(self, client: Client) -> None:
        while client.control or client.pending:
            if client.control:
                await client.connection.send(client.control.pop(0))
                continue
            object_id = next(iter(client.pending))
            frame = client.pending.pop(object_id)
            await client.connection.send(frame)
            self.stats["sent"] += 1
