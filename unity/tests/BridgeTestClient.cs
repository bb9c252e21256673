// Console test client for the C# bridge client (built with mono's mcs by test/test_unity_client.py).
//
//   mono BridgeTestClient.exe --url ws://127.0.0.1:9190 [--token T] [--until-objects 1,2]
//        [--count N] [--linger S] [--timeout S] [--out DIR] [--max-backoff S]
//
// Runs BridgeClient until the set of current meshes is exactly --until-objects (or, with --count,
// holds at least N meshes), stays connected --linger more seconds (answering heartbeats), then
// writes DIR/received.json: every current mesh converted back to ROS axes and ROS winding, with
// vertices and faces as base64 of their little-endian float32 / int32 bytes (bit-exact), pose,
// extents and the values as received in Unity axes (doubles printed with 17 digits: exact for
// float32), plus DIR/object_<id>_<class>.obj files (ROS axes) for people. Prints one line per
// event on stdout. Exit code: 0 reached, 2 timeout, 3 the server refused for good.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Occnet.Bridge;

public static class BridgeTestClient
{
    static readonly object Gate = new object();

    static void Say(string line)
    {
        lock (Gate) { Console.Out.WriteLine(line); Console.Out.Flush(); }
    }

    public static int Main(string[] args)
    {
        var options = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--")) { Console.Error.WriteLine("unexpected argument " + args[i]); return 64; }
            options[args[i].Substring(2)] = args[i + 1];
        }
        if (args.Length % 2 != 0 || !options.ContainsKey("url"))
        {
            Console.Error.WriteLine("usage: BridgeTestClient --url ws://HOST:PORT [--token T] [--until-objects 1,2] [--count N] [--linger S] [--timeout S] [--out DIR]");
            return 64;
        }
        string token = Get(options, "token", "");
        double timeout = double.Parse(Get(options, "timeout", "20"), CultureInfo.InvariantCulture);
        double linger = double.Parse(Get(options, "linger", "0"), CultureInfo.InvariantCulture);
        int count = int.Parse(Get(options, "count", "0"), CultureInfo.InvariantCulture);
        string outDir = Get(options, "out", "");
        HashSet<uint> wanted = null;
        if (options.ContainsKey("until-objects"))
            wanted = new HashSet<uint>(options["until-objects"].Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries)
                                                                 .Select(s => uint.Parse(s, CultureInfo.InvariantCulture)));
        if (wanted == null && count <= 0) count = 1;

        var client = new BridgeClient(options["url"], token);
        client.InitialBackoff = TimeSpan.FromSeconds(0.2);
        client.MaxBackoff = TimeSpan.FromSeconds(double.Parse(Get(options, "max-backoff", "2"), CultureInfo.InvariantCulture));
        client.ServerTimeout = TimeSpan.FromSeconds(3);
        int heartbeats = 0, connections = 0, snapshots = 0;
        client.Connected += w => { connections++; Say("welcome session=" + w.Session + " objects=" + w.Objects); };
        client.SnapshotCompleted += n => { snapshots++; Say("snapshot_end count=" + n); };
        client.MeshUpdated += m => Say("mesh id=" + m.ObjectId + " seq=" + m.Sequence + " class=" + m.ClassName +
                                       " vertices=" + m.Vertices.Length + " triangles=" + m.TriangleCount + " index_size=" + m.IndexSize);
        client.ObjectRemoved += (id, seq) => Say("removed id=" + id + " seq=" + seq);
        client.FrameDropped += d => Say("drop id=" + d.ObjectId + " seq=" + d.Sequence + " size=" + d.Size);
        client.ServerError += e => Say("error code=" + e.Code + " message=" + e.Message);
        client.Disconnected += reason => Say("disconnected reason=" + reason);
        client.BadFrame += e => Say("bad_frame message=" + e.Message);
        client.HeartbeatReceived += t => Interlocked.Increment(ref heartbeats);
        client.Start();

        DateTime deadline = DateTime.UtcNow.AddSeconds(timeout);
        bool reached = false;
        while (DateTime.UtcNow < deadline && !client.Completion.IsCompleted)
        {
            var ids = new HashSet<uint>(client.Meshes.Keys);
            if (wanted != null ? ids.SetEquals(wanted) && client.IsConnected : ids.Count >= count) { reached = true; break; }
            Thread.Sleep(20);
        }
        if (reached && linger > 0)
        {
            Say("reached; lingering " + linger.ToString(CultureInfo.InvariantCulture) + " s");
            Thread.Sleep(TimeSpan.FromSeconds(linger));
        }
        bool stillConnected = client.IsConnected;
        client.Stop();
        var meshes = client.Meshes.Values.OrderBy(m => m.ObjectId).ToList();
        if (outDir != "")
        {
            Directory.CreateDirectory(outDir);
            var json = new StringBuilder();
            json.Append("{\"reached\": ").Append(reached ? "true" : "false");
            json.Append(", \"connected_at_end\": ").Append(stillConnected ? "true" : "false");
            json.Append(", \"session\": ").Append(client.Session);
            json.Append(", \"connections\": ").Append(connections);
            json.Append(", \"reconnect_attempts\": ").Append(client.Reconnects);
            json.Append(", \"snapshots\": ").Append(snapshots);
            json.Append(", \"heartbeats\": ").Append(heartbeats);
            json.Append(", \"heartbeats_answered\": ").Append(client.HeartbeatsAnswered);
            json.Append(", \"bad_frames\": ").Append(client.BadFrames);
            json.Append(", \"fatal_error\": ").Append(client.FatalError == null ? "null" : Str(client.FatalError.Code.ToString()));
            json.Append(", \"meshes\": [");
            for (int i = 0; i < meshes.Count; i++)
            {
                if (i > 0) json.Append(", ");
                AppendMesh(json, meshes[i]);
                WriteObj(Path.Combine(outDir, string.Format("object_{0:D3}_{1}.obj", meshes[i].ObjectId, Safe(meshes[i].ClassName))), Axes.ToRos(meshes[i]));
            }
            json.Append("]}\n");
            File.WriteAllText(Path.Combine(outDir, "received.json"), json.ToString(), new UTF8Encoding(false));
        }
        Say("done reached=" + reached + " meshes=" + meshes.Count + " heartbeats=" + heartbeats);
        if (reached) return 0;
        return client.FatalError != null ? 3 : 2;
    }

    static string Get(Dictionary<string, string> options, string key, string fallback)
    {
        string value;
        return options.TryGetValue(key, out value) ? value : fallback;
    }

    static void AppendMesh(StringBuilder json, MeshData unity)
    {
        MeshData ros = Axes.ToRos(unity);
        json.Append("{\"object_id\": ").Append(unity.ObjectId);
        json.Append(", \"sequence\": ").Append(unity.Sequence);
        json.Append(", \"class_name\": ").Append(Str(unity.ClassName));
        json.Append(", \"index_size\": ").Append(unity.IndexSize);
        json.Append(", \"vertex_count\": ").Append(ros.Vertices.Length);
        json.Append(", \"triangle_count\": ").Append(ros.TriangleCount);
        json.Append(", \"position_ros\": ").Append(Nums(ros.Position.x, ros.Position.y, ros.Position.z));
        json.Append(", \"rotation_ros_xyzw\": ").Append(Nums(ros.Rotation.x, ros.Rotation.y, ros.Rotation.z, ros.Rotation.w));
        json.Append(", \"extents_ros\": ").Append(Nums(ros.Scale.x, ros.Scale.y, ros.Scale.z));
        json.Append(", \"position_unity\": ").Append(Nums(unity.Position.x, unity.Position.y, unity.Position.z));
        json.Append(", \"rotation_unity_xyzw\": ").Append(Nums(unity.Rotation.x, unity.Rotation.y, unity.Rotation.z, unity.Rotation.w));
        json.Append(", \"scale_unity\": ").Append(Nums(unity.Scale.x, unity.Scale.y, unity.Scale.z));
        var vertexBytes = new List<byte>(ros.Vertices.Length * 12);
        foreach (Vec3 v in ros.Vertices) { Le(vertexBytes, BitConverter.GetBytes(v.x)); Le(vertexBytes, BitConverter.GetBytes(v.y)); Le(vertexBytes, BitConverter.GetBytes(v.z)); }
        var faceBytes = new List<byte>(ros.Indices.Length * 4);
        foreach (int index in ros.Indices) Le(faceBytes, BitConverter.GetBytes(index));
        json.Append(", \"vertices_ros_f32le_b64\": ").Append(Str(Convert.ToBase64String(vertexBytes.ToArray())));
        json.Append(", \"faces_ros_i32le_b64\": ").Append(Str(Convert.ToBase64String(faceBytes.ToArray())));
        json.Append("}");
    }

    static void Le(List<byte> output, byte[] bytes)
    {
        if (!BitConverter.IsLittleEndian) Array.Reverse(bytes);
        output.AddRange(bytes);
    }

    static string Nums(params float[] values)
    {
        // float -> double is exact and G17 round-trips any double, so Python gets the float32 back
        return "[" + string.Join(", ", values.Select(v => ((double)v).ToString("G17", CultureInfo.InvariantCulture)).ToArray()) + "]";
    }

    static string Str(string s)
    {
        var b = new StringBuilder("\"");
        foreach (char c in s)
        {
            if (c == '"' || c == '\\') b.Append('\\').Append(c);
            else if (c < 0x20) b.AppendFormat("\\u{0:x4}", (int)c);
            else b.Append(c);
        }
        return b.Append('"').ToString();
    }

    static string Safe(string name)
    {
        var b = new StringBuilder();
        foreach (char c in name) b.Append(char.IsLetterOrDigit(c) || c == '-' || c == '_' ? c : '_');
        return b.ToString();
    }

    static void WriteObj(string path, MeshData ros)
    {
        var text = new StringBuilder("# occnet bridge mesh in ROS axes (object frame), ROS winding\n");
        foreach (Vec3 v in ros.Vertices)
            text.Append("v ").Append(v.x.ToString("G9", CultureInfo.InvariantCulture)).Append(' ')
                .Append(v.y.ToString("G9", CultureInfo.InvariantCulture)).Append(' ')
                .Append(v.z.ToString("G9", CultureInfo.InvariantCulture)).Append('\n');
        for (int i = 0; i < ros.Indices.Length; i += 3)
            text.Append("f ").Append(ros.Indices[i] + 1).Append(' ').Append(ros.Indices[i + 1] + 1).Append(' ').Append(ros.Indices[i + 2] + 1).Append('\n');
        File.WriteAllText(path, text.ToString());
    }
}
