// occnet bridge client over System.Net.WebSockets.ClientWebSocket (plain C#, no Unity API).
//
// Start() runs a background loop: connect, send HELLO (protocol version + token), read WELCOME,
// the full-state snapshot and then live frames; keep the latest mesh per object id; answer
// every server HEARTBEAT; reconnect with exponential backoff when the connection drops or the
// server goes silent. A frame that does not decode (or a text message) is skipped and counted
// (BadFrames, the BadFrame event): the connection goes on. Events are raised on the background thread: a Unity component must hand
// them to the main thread (OccnetMeshRenderer queues them and applies them in Update()).

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Net.WebSockets;
using System.Threading;
using System.Threading.Tasks;

namespace Occnet.Bridge
{
    public sealed class BridgeClient : IDisposable
    {
        public readonly Uri Url;
        public readonly string Token;

        /// <summary>First reconnect delay; doubles per failed attempt up to MaxBackoff; reset by a WELCOME.</summary>
        public TimeSpan InitialBackoff = TimeSpan.FromSeconds(0.5);
        public TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);
        /// <summary>Reconnect when nothing (not even a heartbeat) arrived for this long.</summary>
        public TimeSpan ServerTimeout = TimeSpan.FromSeconds(5);
        public TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
        /// <summary>Refuse (and reconnect) on messages larger than this.</summary>
        public int MaxMessageBytes = 64 << 20;
        /// <summary>BAD_TOKEN and UNSUPPORTED_VERSION cannot heal by retrying: stop unless this is set.</summary>
        public bool RetryAfterFatalError = false;

        /// <summary>Latest mesh per object id (Unity axes, as received).</summary>
        public readonly ConcurrentDictionary<uint, MeshData> Meshes = new ConcurrentDictionary<uint, MeshData>();

        public event Action<WelcomeFrame> Connected;
        public event Action<string> Disconnected;              // reason
        public event Action<uint> SnapshotCompleted;           // objects in the snapshot
        public event Action<MeshData> MeshUpdated;
        public event Action<uint, uint> ObjectRemoved;          // object id, sequence
        public event Action<DropNoticeFrame> FrameDropped;      // the server skipped a too-large mesh
        public event Action<ErrorFrame> ServerError;
        public event Action<double> HeartbeatReceived;          // server time (Unix seconds)
        public event Action<Exception> ConnectionFailed;        // a connect or receive that threw
        public event Action<ProtocolException> BadFrame;        // a frame was skipped: it did not decode
        /// <summary>An event handler threw; the client goes on (defaults to Console.Error).</summary>
        public Action<Exception> HandlerError = e => Console.Error.WriteLine("occnet bridge: event handler failed: " + e);

        public bool IsConnected { get { return connected; } }
        public uint Session { get; private set; }
        public int Reconnects { get; private set; }            // connection attempts after the first
        public int HeartbeatsAnswered { get; private set; }
        /// <summary>Messages from the server that did not decode (skipped; the connection stays).</summary>
        public int BadFrames { get { return badFrames; } }
        public ErrorFrame FatalError { get; private set; }     // set when the loop stopped for good

        readonly CancellationTokenSource stopping = new CancellationTokenSource();
        readonly Random jitter = new Random();
        Task loop;
        volatile bool connected;
        int badFrames;
        HashSet<uint> snapshotSeen;  // ids seen since SNAPSHOT_BEGIN; null outside a snapshot

        public BridgeClient(string url, string token = "")
        {
            Url = new Uri(url);
            if (Url.Scheme != "ws" && Url.Scheme != "wss") throw new ArgumentException("the bridge URL must be ws:// or wss://");
            Token = token ?? "";
        }

        public void Start()
        {
            if (loop != null) throw new InvalidOperationException("already started");
            loop = Task.Run(() => RunAsync(stopping.Token));
        }

        /// <summary>The background loop; completes when stopped or after a fatal server error.</summary>
        public Task Completion { get { return loop ?? Task.FromResult(0); } }

        public void Stop()
        {
            stopping.Cancel();
            try { if (loop != null) loop.Wait(TimeSpan.FromSeconds(3)); }
            catch (AggregateException) { }
        }

        public void Dispose() { Stop(); }

        async Task RunAsync(CancellationToken stop)
        {
            TimeSpan backoff = InitialBackoff;
            bool first = true;
            while (!stop.IsCancellationRequested)
            {
                if (!first) Reconnects++;
                first = false;
                bool welcomed = false;
                string reason;
                try
                {
                    welcomed = await SessionAsync(stop).ConfigureAwait(false);
                    reason = "closed by the server";
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    reason = "stopped";
                }
                catch (Exception error)
                {
                    welcomed = welcomed || connected;
                    reason = error.Message;
                    Raise(ConnectionFailed, error);
                }
                bool wasConnected = connected;
                connected = false;
                snapshotSeen = null;
                if (wasConnected) Raise(Disconnected, reason);
                if (FatalError != null && !RetryAfterFatalError) return;
                if (stop.IsCancellationRequested) return;
                if (welcomed) backoff = InitialBackoff;
                // full jitter in [backoff/2, backoff]: many headsets do not reconnect in lockstep
                double ms = backoff.TotalMilliseconds * (0.5 + 0.5 * jitter.NextDouble());
                try { await Task.Delay(TimeSpan.FromMilliseconds(ms), stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                backoff = TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, backoff.TotalMilliseconds * 2));
            }
        }

        /// <summary>One connection, until it closes; true when a WELCOME arrived.</summary>
        async Task<bool> SessionAsync(CancellationToken stop)
        {
            bool welcomed = false;
            using (var ws = new ClientWebSocket())
            {
                using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(stop))
                {
                    connectTimeout.CancelAfter(ConnectTimeout);
                    try { await ws.ConnectAsync(Url, connectTimeout.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                    {
                        throw new TimeoutException("connecting to " + Url + " timed out");
                    }
                }
                await SendAsync(ws, Protocol.EncodeHello(Token), stop).ConfigureAwait(false);
                var buffer = new byte[64 * 1024];
                var message = new MemoryStream();
                while (ws.State == WebSocketState.Open)
                {
                    message.SetLength(0);
                    WebSocketReceiveResult result;
                    using (var silence = CancellationTokenSource.CreateLinkedTokenSource(stop))
                    {
                        silence.CancelAfter(ServerTimeout);
                        try
                        {
                            do
                            {
                                result = await ws.ReceiveAsync(new ArraySegment<byte>(buffer), silence.Token).ConfigureAwait(false);
                                if (result.MessageType == WebSocketMessageType.Close) break;
                                message.Write(buffer, 0, result.Count);
                                if (message.Length > MaxMessageBytes) throw new ProtocolException("message larger than MaxMessageBytes");
                            } while (!result.EndOfMessage);
                        }
                        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                        {
                            throw new TimeoutException("the server was silent for " + ServerTimeout.TotalSeconds + " s");
                        }
                    }
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        try
                        {
                            using (var t = new CancellationTokenSource(1000))
                                await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", t.Token).ConfigureAwait(false);
                        }
                        catch (Exception) { }
                        return welcomed;
                    }
                    Frame frame;
                    try
                    {
                        if (result.MessageType != WebSocketMessageType.Binary) throw new ProtocolException("frames are binary WebSocket messages");
                        frame = Protocol.Decode(message.GetBuffer(), 0, (int)message.Length);
                    }
                    catch (ProtocolException error)
                    {
                        // one bad frame is no reason to drop the connection (and every mesh with it)
                        Interlocked.Increment(ref badFrames);
                        Raise(BadFrame, error);
                        continue;
                    }
                    if (frame.Type == FrameType.Welcome) welcomed = true;
                    await HandleAsync(ws, frame, stop).ConfigureAwait(false);
                    if (frame.Type == FrameType.Error && !welcomed) return welcomed;  // refused: the server closes
                }
            }
            return welcomed;
        }

        async Task HandleAsync(ClientWebSocket ws, Frame frame, CancellationToken stop)
        {
            switch (frame.Type)
            {
                case FrameType.Welcome:
                {
                    var welcome = (WelcomeFrame)frame;
                    Session = welcome.Session;
                    connected = true;
                    Raise(Connected, welcome);
                    break;
                }
                case FrameType.SnapshotBegin:
                    snapshotSeen = new HashSet<uint>();
                    break;
                case FrameType.MeshUpdate:
                {
                    MeshData mesh = ((MeshUpdateFrame)frame).Mesh;
                    if (snapshotSeen != null) snapshotSeen.Add(mesh.ObjectId);
                    Meshes[mesh.ObjectId] = mesh;
                    Raise(MeshUpdated, mesh);
                    break;
                }
                case FrameType.DropNotice:
                {
                    var drop = (DropNoticeFrame)frame;
                    if (snapshotSeen != null) snapshotSeen.Add(drop.ObjectId);  // it exists, only too large
                    Raise(FrameDropped, drop);
                    break;
                }
                case FrameType.ObjectRemoved:
                {
                    var removed = (ObjectRemovedFrame)frame;
                    MeshData gone;
                    Meshes.TryRemove(removed.ObjectId, out gone);
                    if (snapshotSeen != null) snapshotSeen.Remove(removed.ObjectId);
                    Raise(ObjectRemoved, removed.ObjectId, removed.Sequence);
                    break;
                }
                case FrameType.SnapshotEnd:
                {
                    // after a reconnect, objects that were removed while we were away are not in the
                    // snapshot: forget them (the snapshot is the server's full state)
                    if (snapshotSeen != null)
                    {
                        foreach (uint id in new List<uint>(Meshes.Keys))
                        {
                            MeshData stale;
                            if (!snapshotSeen.Contains(id) && Meshes.TryRemove(id, out stale))
                                Raise(ObjectRemoved, id, stale.Sequence);
                        }
                    }
                    snapshotSeen = null;
                    Raise(SnapshotCompleted, ((SnapshotEndFrame)frame).Count);
                    break;
                }
                case FrameType.Heartbeat:
                    await SendAsync(ws, Protocol.EncodeHeartbeat(UnixTime()), stop).ConfigureAwait(false);
                    HeartbeatsAnswered++;
                    Raise(HeartbeatReceived, ((HeartbeatFrame)frame).Time);
                    break;
                case FrameType.Error:
                {
                    var error = (ErrorFrame)frame;
                    if (error.Code == ErrorCode.BadToken || error.Code == ErrorCode.UnsupportedVersion) FatalError = error;
                    Raise(ServerError, error);
                    break;
                }
                default:
                    break;  // HELLO is client -> server only
            }
        }

        static async Task SendAsync(ClientWebSocket ws, byte[] frame, CancellationToken stop)
        {
            // only the receive loop sends (HELLO, heartbeat answers), so sends never overlap
            await ws.SendAsync(new ArraySegment<byte>(frame), WebSocketMessageType.Binary, true, stop).ConfigureAwait(false);
        }

        static double UnixTime()
        {
            return (DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
        }

        // a throwing handler must not look like a broken connection (that would reconnect forever)
        void Raise<T>(Action<T> handler, T value)
        {
            if (handler == null) return;
            try { handler(value); }
            catch (Exception error) { if (HandlerError != null) HandlerError(error); }
        }

        void Raise<T1, T2>(Action<T1, T2> handler, T1 a, T2 b)
        {
            if (handler == null) return;
            try { handler(a, b); }
            catch (Exception error) { if (HandlerError != null) HandlerError(error); }
        }
    }
}
