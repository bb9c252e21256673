"""WebSocket server core of the Unity bridge (asyncio + websockets; no ROS).

- latest-only per object and client: a slow client gets the newest mesh of each object, never
  a growing backlog, and never slows the publisher (``publish`` only swaps a dict entry);
- frames above ``max_frame_bytes`` are not sent; clients get a DROP_NOTICE instead;
- HELLO with protocol version and optional token first, then WELCOME and a full-state
  snapshot (so a reconnecting client is complete again); heartbeats both ways; optional TLS;
  loopback default;
- hostile or unlucky clients cost bounded memory and never lock others out: clients silent for
  ``client_timeout_s`` or whose sends do not drain for ``stall_timeout_s`` (they do not read)
  are evicted; when ``max_clients`` are connected a new client replaces the longest-stalled or
  least recently heard one; tokens are compared in constant time and every failure from an
  address doubles the wait before that address's next token is checked; a bad frame after the
  handshake is answered with ERROR BAD_FRAME and the connection stays open; HTTP paths over
  ``max_path_bytes`` get 414.
Token checks and their back-off are in auth.py, plain HTTP (414, the viewer's files) in web.py.
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

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from occnet_ros.bridge import protocol as p
from occnet_ros.bridge.auth import TokenFailures, TokenGate
from occnet_ros.bridge.web import http_response

log = logging.getLogger(__name__)


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
    stall_timeout_s: float = 5.0  # a send whose buffer has not shrunk for this long: the client does not read
    token_backoff_s: float = 0.25  # wait after the first failed token from an address; doubles per failure
    token_backoff_max_s: float = 4.0  # below the clients' 5 s silence timeout, so a waiting client stays
    max_token_waiters: int = 4  # handshakes from one address waiting for its back-off; more are refused
    max_tracked_addresses: int = 1024  # addresses with failed tokens remembered (least recent forgotten)
    max_path_bytes: int = 1024  # longer HTTP request paths get 414


@dataclass
class Client:
    connection: ServerConnection
    session: int
    pending: dict[int, bytes] = field(default_factory=dict)  # object id -> newest frame
    control: list[bytes] = field(default_factory=list)  # removals, drop notices (in order)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_heard: float = field(default_factory=time.monotonic)
    send_started: float | None = None  # monotonic time of the send in progress (None: not sending)
    progress_at: float = 0.0  # when the send buffer was last seen to shrink (the client read)
    buffered: int = 0  # bytes in the send buffer when last looked at
    sender: asyncio.Task | None = None
    bad_frames: int = 0
    error_queued: bool = False  # an ERROR BAD_FRAME is queued and not sent yet (replies coalesce)

    def check_progress(self, now: float) -> None:
        """Note whether the send buffer drained since the last look (called every heartbeat)."""
        transport = self.connection.transport
        size = transport.get_write_buffer_size() if transport is not None else 0
        if size < self.buffered:
            self.progress_at = now
        self.buffered = size

    def stalled_for(self, now: float) -> float:
        """Seconds a send has been waiting without the client reading a byte (0 when not sending):
        a slow reader drains its buffer a little on every heartbeat tick, one that does not read never."""
        return 0.0 if self.send_started is None else now - max(self.send_started, self.progress_at)


class BridgeServer:
    """Start with ``start()`` (returns the bound port), stop with ``stop()``."""

    def __init__(self, settings: BridgeSettings = BridgeSettings()) -> None:
        if bool(settings.tls_cert) != bool(settings.tls_key):
            raise ValueError("TLS needs both tls_cert and tls_key")
        self.settings = settings
        self.state: dict[int, tuple[p.MeshUpdate, bytes]] = {}
        self.clients: dict[int, Client] = {}
        self.sessions = itertools.count(1)
        self.stats = {"sent": 0, "dropped_too_large": 0, "coalesced": 0, "refused": 0, "evicted": 0, "bad_frames": 0,
                      "evicted_stalled": 0, "replaced": 0, "bad_tokens": 0, "token_throttled": 0,
                      "class_names_truncated": 0, "paths_too_long": 0}
        self.tokens = TokenGate(settings, self.stats, self._refuse)  # HELLO token checks and their back-off
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.port: int | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._closing: set[asyncio.Task] = set()  # evictions in progress (strong references)

    @property
    def token_failures(self) -> dict[str, TokenFailures]:
        """Remote address -> failed tokens (least recently failed first)."""
        return self.tokens.failures

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
        """Queue the mesh for every client. Raises ProtocolError (nothing is sent) for a mesh the
        wire cannot carry; a class name over MAX_CLASS_NAME_BYTES is truncated and counted."""
        frame = p.encode_mesh(update)
        if p.sanitize_class_name(update.class_name) != update.class_name:
            self.stats["class_names_truncated"] += 1
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
                         process_request=self._http,
                         ping_interval=None, compression=None, close_timeout=2.0) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            heartbeat = asyncio.create_task(self._heartbeat())
            await self._stop.wait()
            heartbeat.cancel()
            # a client that does not read would hold the server's closing handshake for close_timeout
            for client in list(self.clients.values()):
                if client.stalled_for(time.monotonic()) > 0:
                    client.connection.transport.abort()

    def _http(self, connection, request):
        """414 for long paths, the viewer's files on plain GETs (web.py); WebSocket upgrades pass."""
        return http_response(request, self.settings, self.stats)

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
                client.check_progress(now)
                if now - client.last_heard > self.settings.client_timeout_s:
                    self.stats["evicted"] += 1
                    log.info("evicting silent client %d", client.session)
                    self._evict(client, 1001, "heartbeat timeout")
                    continue
                if client.stalled_for(now) > self.settings.stall_timeout_s:
                    # it answers heartbeats but does not read what we send: its socket buffers are
                    # full; a close handshake could not reach it either, so the connection is aborted
                    self.stats["evicted_stalled"] += 1
                    log.info("evicting client %d: it has not read for %.1f s", client.session, client.stalled_for(now))
                    self._evict(client, None, "not reading")
                    continue
                if not any(frame[0] == p.FrameType.HEARTBEAT for frame in client.control):  # one queued is enough
                    client.control.append(p.encode_heartbeat(time.time()))
                client.wake.set()

    def _evict(self, client: Client, code: int | None, reason: str, error: bytes | None = None) -> None:
        """Drop the client now; close it in the background (a client that does not read would make
        a closing handshake wait close_timeout and must not stall the others). ``code`` None: abort
        the TCP connection without a closing handshake. ``error``: an ERROR frame to try first."""
        self.clients.pop(client.session, None)
        if client.sender is not None:
            client.sender.cancel()

        async def close() -> None:
            connection = client.connection
            try:
                if code is None:
                    connection.transport.abort()
                    return
                async with asyncio.timeout(1.0):
                    if error is not None:
                        await connection.send(error)
                    await connection.close(code=code, reason=reason)
            except (ConnectionClosed, TimeoutError, OSError):
                connection.transport.abort()

        closing = asyncio.create_task(close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

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
        if self.settings.token and not await self.tokens.check(connection, frame.fields["token"]):
            return False
        if len(self.clients) >= self.settings.max_clients:
            self._make_room()
        return True

    def _make_room(self) -> None:
        """The client limit never locks a new client out: the connected client that has been
        stalled longest (a send waiting for more than heartbeat_s), or else the one heard from
        least recently, is closed with ERROR TOO_MANY_CLIENTS and 1008."""
        now = time.monotonic()
        for client in self.clients.values():
            client.check_progress(now)

        def badness(c: Client) -> tuple[float, float]:
            stalled = c.stalled_for(now)
            return stalled if stalled > self.settings.heartbeat_s else 0.0, now - c.last_heard

        victim = max(self.clients.values(), key=badness)
        self.stats["replaced"] += 1
        log.info("client limit (%d) reached: replacing client %d (stalled %.1f s, silent %.1f s)",
                 self.settings.max_clients, victim.session, *badness(victim))
        message = f"replaced by a new client: limit of {self.settings.max_clients} clients"
        self._evict(victim, 1008, "replaced by a new client", p.encode_error(p.ErrorCode.TOO_MANY_CLIENTS, message))

    async def _handle(self, connection: ServerConnection) -> None:
        if not await self._handshake(connection):
            return
        client = Client(connection, next(self.sessions))
        self.clients[client.session] = client
        log.info("client %d connected from %s", client.session, connection.remote_address)
        client.sender = asyncio.create_task(self._send_loop(client))
        try:
            async for raw in connection:
                client.last_heard = time.monotonic()
                try:
                    frame = p.decode(raw)
                    if frame.type != p.FrameType.HEARTBEAT:
                        raise p.ProtocolError(f"clients may only send HEARTBEAT after HELLO, not {frame.type.name}")
                except p.ProtocolError as error:
                    self._bad_frame(client, error)
        except ConnectionClosed:
            pass
        finally:
            client.sender.cancel()
            self.clients.pop(client.session, None)
            log.info("client %d disconnected", client.session)

    def _bad_frame(self, client: Client, error: p.ProtocolError) -> None:
        """Answer ERROR BAD_FRAME and keep the connection (docs/bridge_protocol.md). Replies
        coalesce: while one is queued and unsent no other is queued (a flood costs no memory)."""
        self.stats["bad_frames"] += 1
        client.bad_frames += 1
        if client.bad_frames == 1 or client.bad_frames % 1000 == 0:
            log.warning("client %d sent %d bad frame(s), latest: %s", client.session, client.bad_frames, error)
        if not client.error_queued and client.session in self.clients:
            client.error_queued = True
            client.control.append(p.encode_error(p.ErrorCode.BAD_FRAME, str(error)[:200]))
            client.wake.set()

    async def _send_loop(self, client: Client) -> None:
        try:
            await self._send(client, p.encode_welcome(client.session, len(self.state)))
            snapshot = list(self.state.values())
            await self._send(client, p.encode_snapshot_begin(len(snapshot)))
            for update, frame in snapshot:
                self._offer(client, update, frame)
            await self._flush(client)
            await self._send(client, p.encode_snapshot_end(len(snapshot)))
            while True:
                await client.wake.wait()
                client.wake.clear()
                await self._flush(client)
        except ConnectionClosed:
            pass

    async def _flush(self, client: Client) -> None:
        while client.control or client.pending:
            if client.control:
                frame = client.control.pop(0)
                if frame[0] == p.FrameType.ERROR:
                    client.error_queued = False
                await self._send(client, frame)
                continue
            object_id = next(iter(client.pending))
            frame = client.pending.pop(object_id)
            await self._send(client, frame)
            self.stats["sent"] += 1

    @staticmethod
    async def _send(client: Client, frame: bytes) -> None:
        client.send_started = time.monotonic()
        try:
            await client.connection.send(frame)
        finally:
            client.send_started = None
