// occnet bridge wire protocol v1 (docs/bridge_protocol.md): plain C#, no Unity API, no packages.
//
// Little-endian binary frames, one per binary WebSocket message. Every frame starts with a
// 4-byte header: u8 type, u8 version (1), u16 reserved (0). Geometry on the wire is already in
// Unity axes (left-handed, x right, y up, z forward); Axes converts it back to ROS axes
// (right-handed, x forward, y left, z up) for tests and tools.
//
// Vec3 and Quat are this file's own structs (not UnityEngine.Vector3/Quaternion), so the file
// compiles outside Unity; they are named differently so that `using UnityEngine;` and
// `using Occnet.Bridge;` can stand side by side without ambiguity.

using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Occnet.Bridge
{
    public struct Vec3
    {
        public float x, y, z;

        public Vec3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }

        public override string ToString() { return "(" + x + ", " + y + ", " + z + ")"; }
    }

    /// <summary>Quaternion in (x, y, z, w) order, as on the wire.</summary>
    public struct Quat
    {
        public float x, y, z, w;

        public Quat(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }

        public static Quat Identity { get { return new Quat(0f, 0f, 0f, 1f); } }

        public override string ToString() { return "(" + x + ", " + y + ", " + z + ", " + w + ")"; }
    }

    public enum FrameType : byte
    {
        Hello = 1,
        Welcome = 2,
        MeshUpdate = 3,
        ObjectRemoved = 4,
        SnapshotBegin = 5,
        SnapshotEnd = 6,
        Heartbeat = 7,
        DropNotice = 8,
        Error = 9,
    }

    public enum DropReason : byte
    {
        FrameTooLarge = 1,
    }

    public enum ErrorCode : ushort
    {
        BadFrame = 1,
        UnsupportedVersion = 2,
        BadToken = 3,
        TooManyClients = 4,
        HelloExpected = 5,
    }

    /// <summary>A frame that does not follow the protocol.</summary>
    public class ProtocolException : Exception
    {
        public ProtocolException(string message) : base(message) { }
    }

    /// <summary>One object's mesh as on the wire: Unity axes, Unity (reversed) triangle winding.</summary>
    public class MeshData
    {
        public uint ObjectId;
        public uint Sequence;
        public string ClassName = "";
        public Vec3 Position;                  // metres, world, Unity axes
        public Quat Rotation = Quat.Identity;  // object -> world, Unity axes
        public Vec3 Scale;                     // object extents (metres) along Unity x, y, z (vertices are already metric)
        public Vec3[] Vertices = new Vec3[0];  // object frame, Unity axes
        public int[] Indices = new int[0];     // 3 per triangle, Unity winding
        public int IndexSize;                  // 2 or 4: the width the indices had on the wire (0: not decoded)

        public int TriangleCount { get { return Indices.Length / 3; } }
    }

    public abstract class Frame
    {
        public abstract FrameType Type { get; }
    }

    public sealed class HelloFrame : Frame
    {
        public ushort Version; public string Token = "";
        public override FrameType Type { get { return FrameType.Hello; } }
    }

    public sealed class WelcomeFrame : Frame
    {
        public ushort Version; public uint Session; public uint Objects;
        public override FrameType Type { get { return FrameType.Welcome; } }
    }

    public sealed class MeshUpdateFrame : Frame
    {
        public MeshData Mesh;
        public override FrameType Type { get { return FrameType.MeshUpdate; } }
    }

    public sealed class ObjectRemovedFrame : Frame
    {
        public uint ObjectId; public uint Sequence;
        public override FrameType Type { get { return FrameType.ObjectRemoved; } }
    }

    public sealed class SnapshotBeginFrame : Frame
    {
        public uint Count;
        public override FrameType Type { get { return FrameType.SnapshotBegin; } }
    }

    public sealed class SnapshotEndFrame : Frame
    {
        public uint Count;
        public override FrameType Type { get { return FrameType.SnapshotEnd; } }
    }

    public sealed class HeartbeatFrame : Frame
    {
        public double Time;  // sender's clock (the server sends Unix time in seconds)
        public override FrameType Type { get { return FrameType.Heartbeat; } }
    }

    public sealed class DropNoticeFrame : Frame
    {
        public uint ObjectId; public uint Sequence; public DropReason Reason; public uint Size;
        public override FrameType Type { get { return FrameType.DropNotice; } }
    }

    public sealed class ErrorFrame : Frame
    {
        public ErrorCode Code; public string Message = "";
        public override FrameType Type { get { return FrameType.Error; } }
    }

    public static class Protocol
    {
        public const byte Version = 1;
        public const int HeaderSize = 4;

        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);  // throws on invalid bytes

        // ---- encoding ---------------------------------------------------------------------
        public static byte[] EncodeHello(string token)
        {
            var w = new Writer(FrameType.Hello);
            w.U16(Version); w.Str(token ?? "");
            return w.ToArray();
        }

        public static byte[] EncodeWelcome(uint session, uint objects)
        {
            var w = new Writer(FrameType.Welcome);
            w.U16(Version); w.U32(session); w.U32(objects);
            return w.ToArray();
        }

        /// <summary>MESH_UPDATE; indices go 16-bit when there are at most 65535 vertices, else 32-bit
        /// (the Python server's rule).</summary>
        public static byte[] EncodeMesh(MeshData m)
        {
            int n = m.Vertices.Length;
            if (m.Indices.Length % 3 != 0) throw new ProtocolException("index count is not a multiple of 3");
            foreach (int i in m.Indices)
                if (i < 0 || i >= n) throw new ProtocolException("triangle index out of range");
            bool wide = n > 0xFFFF;
            var w = new Writer(FrameType.MeshUpdate);
            w.U32(m.ObjectId); w.U32(m.Sequence); w.Str(m.ClassName ?? "");
            w.V3(m.Position); w.Q(m.Rotation); w.V3(m.Scale);
            w.U32((uint)n); w.U32((uint)m.Indices.Length); w.U8((byte)(wide ? 4 : 2));
            foreach (var v in m.Vertices) w.V3(v);
            foreach (int i in m.Indices) { if (wide) w.U32((uint)i); else w.U16((ushort)i); }
            return w.ToArray();
        }

        public static byte[] EncodeRemoved(uint objectId, uint sequence)
        {
            var w = new Writer(FrameType.ObjectRemoved);
            w.U32(objectId); w.U32(sequence);
            return w.ToArray();
        }

        public static byte[] EncodeSnapshotBegin(uint count)
        {
            var w = new Writer(FrameType.SnapshotBegin); w.U32(count); return w.ToArray();
        }

        public static byte[] EncodeSnapshotEnd(uint count)
        {
            var w = new Writer(FrameType.SnapshotEnd); w.U32(count); return w.ToArray();
        }

        public static byte[] EncodeHeartbeat(double time)
        {
            var w = new Writer(FrameType.Heartbeat); w.F64(time); return w.ToArray();
        }

        public static byte[] EncodeDrop(uint objectId, uint sequence, DropReason reason, uint size)
        {
            var w = new Writer(FrameType.DropNotice);
            w.U32(objectId); w.U32(sequence); w.U8((byte)reason); w.U32(size);
            return w.ToArray();
        }

        public static byte[] EncodeError(ErrorCode code, string message)
        {
            var w = new Writer(FrameType.Error);
            w.U16((ushort)code); w.Str(message ?? "");
            return w.ToArray();
        }

        // ---- decoding ---------------------------------------------------------------------
        public static Frame Decode(byte[] data) { return Decode(data, 0, data.Length); }

        /// <summary>Parse one frame; throws ProtocolException for anything malformed (same rules as
        /// protocol.py: version, known type, no truncation, no trailing bytes, valid indices).</summary>
        public static Frame Decode(byte[] data, int offset, int count)
        {
            if (data == null) throw new ProtocolException("no frame");
            var r = new Reader(data, offset, count);
            byte kind = r.U8();
            byte version = r.U8();
            r.U16();  // reserved
            if (version != Version) throw new ProtocolException("unsupported protocol version " + version);
            Frame frame;
            switch ((FrameType)kind)
            {
                case FrameType.Hello:
                    frame = new HelloFrame { Version = r.U16(), Token = r.Str() };
                    break;
                case FrameType.Welcome:
                    frame = new WelcomeFrame { Version = r.U16(), Session = r.U32(), Objects = r.U32() };
                    break;
                case FrameType.MeshUpdate:
                    frame = new MeshUpdateFrame { Mesh = DecodeMesh(r) };
                    break;
                case FrameType.ObjectRemoved:
                    frame = new ObjectRemovedFrame { ObjectId = r.U32(), Sequence = r.U32() };
                    break;
                case FrameType.SnapshotBegin:
                    frame = new SnapshotBeginFrame { Count = r.U32() };
                    break;
                case FrameType.SnapshotEnd:
                    frame = new SnapshotEndFrame { Count = r.U32() };
                    break;
                case FrameType.Heartbeat:
                    frame = new HeartbeatFrame { Time = r.F64() };
                    break;
                case FrameType.DropNotice:
                {
                    var d = new DropNoticeFrame { ObjectId = r.U32(), Sequence = r.U32() };
                    byte reason = r.U8();
                    if (!Enum.IsDefined(typeof(DropReason), reason)) throw new ProtocolException("unknown DropReason " + reason);
                    d.Reason = (DropReason)reason;
                    d.Size = r.U32();
                    frame = d;
                    break;
                }
                case FrameType.Error:
                {
                    ushort code = r.U16();
                    if (!Enum.IsDefined(typeof(ErrorCode), code)) throw new ProtocolException("unknown ErrorCode " + code);
                    frame = new ErrorFrame { Code = (ErrorCode)code, Message = r.Str() };
                    break;
                }
                default:
                    throw new ProtocolException("unknown frame type " + kind);
            }
            r.Done();
            return frame;
        }

        static MeshData DecodeMesh(Reader r)
        {
            var m = new MeshData { ObjectId = r.U32(), Sequence = r.U32(), ClassName = r.Str() };
            m.Position = r.V3(); m.Rotation = r.Q(); m.Scale = r.V3();
            uint nVertices = r.U32(), nIndices = r.U32();
            byte indexSize = r.U8();
            if ((indexSize != 2 && indexSize != 4) || nIndices % 3 != 0) throw new ProtocolException("bad index size or count");
            r.Need(12L * nVertices + (long)indexSize * nIndices);  // before allocating anything
            m.IndexSize = indexSize;
            m.Vertices = new Vec3[nVertices];
            for (int i = 0; i < m.Vertices.Length; i++) m.Vertices[i] = r.V3();
            m.Indices = new int[nIndices];
            for (int i = 0; i < m.Indices.Length; i++)
            {
                uint index = indexSize == 2 ? r.U16() : r.U32();
                if (index >= nVertices) throw new ProtocolException("triangle index out of range");
                m.Indices[i] = (int)index;
            }
            return m;
        }

        // ---- little-endian primitives -----------------------------------------------------
        sealed class Reader
        {
            readonly byte[] data; int pos; readonly int end;
            readonly byte[] scratch = new byte[8];

            public Reader(byte[] data, int offset, int count)
            {
                if (offset < 0 || count < 0 || offset + count > data.Length) throw new ArgumentOutOfRangeException("count");
                this.data = data; pos = offset; end = offset + count;
            }

            public void Need(long bytes)
            {
                if (bytes < 0 || pos + bytes > end) throw new ProtocolException("frame is truncated");
            }

            public byte U8() { Need(1); return data[pos++]; }

            public ushort U16() { Need(2); ushort v = (ushort)(data[pos] | data[pos + 1] << 8); pos += 2; return v; }

            public uint U32()
            {
                Need(4);
                uint v = (uint)(data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16 | data[pos + 3] << 24);
                pos += 4;
                return v;
            }

            public float F32()
            {
                Need(4);
                float v;
                if (BitConverter.IsLittleEndian) v = BitConverter.ToSingle(data, pos);
                else { for (int i = 0; i < 4; i++) scratch[i] = data[pos + 3 - i]; v = BitConverter.ToSingle(scratch, 0); }
                pos += 4;
                return v;
            }

            public double F64()
            {
                Need(8);
                double v;
                if (BitConverter.IsLittleEndian) v = BitConverter.ToDouble(data, pos);
                else { for (int i = 0; i < 8; i++) scratch[i] = data[pos + 7 - i]; v = BitConverter.ToDouble(scratch, 0); }
                pos += 8;
                return v;
            }

            public Vec3 V3() { float x = F32(), y = F32(), z = F32(); return new Vec3(x, y, z); }

            public Quat Q() { float x = F32(), y = F32(), z = F32(), w = F32(); return new Quat(x, y, z, w); }

            public string Str()
            {
                int length = U16();
                Need(length);
                string s;
                try { s = Utf8.GetString(data, pos, length); }
                catch (ArgumentException) { throw new ProtocolException("string is not UTF-8"); }
                pos += length;
                return s;
            }

            public void Done()
            {
                if (pos != end) throw new ProtocolException((end - pos) + " unexpected trailing bytes");
            }
        }

        sealed class Writer
        {
            readonly MemoryStream stream = new MemoryStream();

            public Writer(FrameType type) { U8((byte)type); U8(Version); U16(0); }

            public void U8(byte v) { stream.WriteByte(v); }

            public void U16(ushort v) { stream.WriteByte((byte)v); stream.WriteByte((byte)(v >> 8)); }

            public void U32(uint v) { for (int i = 0; i < 4; i++) stream.WriteByte((byte)(v >> (8 * i))); }

            public void F32(float v) { Put(BitConverter.GetBytes(v)); }

            public void F64(double v) { Put(BitConverter.GetBytes(v)); }

            void Put(byte[] bytes)
            {
                if (!BitConverter.IsLittleEndian) Array.Reverse(bytes);
                stream.Write(bytes, 0, bytes.Length);
            }

            public void V3(Vec3 v) { F32(v.x); F32(v.y); F32(v.z); }

            public void Q(Quat q) { F32(q.x); F32(q.y); F32(q.z); F32(q.w); }

            public void Str(string s)
            {
                byte[] bytes = Utf8.GetBytes(s);
                if (bytes.Length > 0xFFFF) throw new ProtocolException("string longer than 65535 bytes");
                U16((ushort)bytes.Length);
                stream.Write(bytes, 0, bytes.Length);
            }

            public byte[] ToArray() { return stream.ToArray(); }
        }
    }

    /// <summary>Axis conventions. ROS (REP-103): right-handed, x forward, y left, z up. Unity:
    /// left-handed, x right, y up, z forward. unity = (-y, z, x); quaternion (x, y, z, w) ->
    /// (y, -z, -x, w); the change of handedness mirrors the mesh, so triangle winding is reversed.
    /// Every conversion only permutes and negates, so a float32 survives the round trip exactly.</summary>
    public static class Axes
    {
        public static Vec3 RosToUnity(Vec3 r) { return new Vec3(-r.y, r.z, r.x); }

        public static Vec3 UnityToRos(Vec3 u) { return new Vec3(u.z, -u.x, u.y); }

        public static Quat RosToUnity(Quat r) { return new Quat(r.y, -r.z, -r.x, r.w); }

        public static Quat UnityToRos(Quat u) { return new Quat(-u.z, u.x, -u.y, u.w); }

        /// <summary>Extents are lengths: permuted, never negated.</summary>
        public static Vec3 ExtentsUnityToRos(Vec3 u) { return new Vec3(u.z, u.x, u.y); }

        public static Vec3 ExtentsRosToUnity(Vec3 r) { return new Vec3(r.y, r.z, r.x); }

        /// <summary>(a, b, c) -> (a, c, b) per triangle; its own inverse.</summary>
        public static int[] FlipWinding(int[] indices)
        {
            if (indices.Length % 3 != 0) throw new ArgumentException("index count is not a multiple of 3");
            var flipped = new int[indices.Length];
            for (int i = 0; i < indices.Length; i += 3)
            {
                flipped[i] = indices[i];
                flipped[i + 1] = indices[i + 2];
                flipped[i + 2] = indices[i + 1];
            }
            return flipped;
        }

        /// <summary>A received mesh back in ROS axes and ROS winding (for tests and tools).</summary>
        public static MeshData ToRos(MeshData u)
        {
            var r = new MeshData
            {
                ObjectId = u.ObjectId, Sequence = u.Sequence, ClassName = u.ClassName, IndexSize = u.IndexSize,
                Position = UnityToRos(u.Position), Rotation = UnityToRos(u.Rotation), Scale = ExtentsUnityToRos(u.Scale),
                Vertices = new Vec3[u.Vertices.Length], Indices = FlipWinding(u.Indices),
            };
            for (int i = 0; i < u.Vertices.Length; i++) r.Vertices[i] = UnityToRos(u.Vertices[i]);
            return r;
        }
    }
}
