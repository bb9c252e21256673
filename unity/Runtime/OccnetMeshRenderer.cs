// Thin Unity/MRTK wrapper around Occnet.Bridge.BridgeClient: one child GameObject (MeshFilter +
// MeshRenderer) per object id, posed from MESH_UPDATE, destroyed on OBJECT_REMOVED, with an
// "annotation anchor" child at the top centre of the object for labels / MRTK tooltips.
//
// Needs UnityEngine, so it is not part of the mono build in test/test_unity_client.py; all the
// protocol logic it relies on lives in ../OccnetBridge and is tested there.
//
// Frames: the bridge sends Unity axes already (left-handed, y up). Poses are world poses in the
// ROS world frame (e.g. "map"); they are applied as *local* poses under this component's
// transform, so place this GameObject where the ROS world frame is (spatial anchor, QR code, ...).

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using Occnet.Bridge;
using UnityEngine;
using UnityEngine.Rendering;

[AddComponentMenu("occnet/Occnet Mesh Renderer")]
public class OccnetMeshRenderer : MonoBehaviour
{
    [Tooltip("ws://HOST:PORT of the occnet unity_bridge node (wss:// when it has a TLS certificate)")]
    public string url = "ws://192.168.1.10:9190";
    [Tooltip("the bridge's token parameter; empty when the bridge has none")]
    public string token = "";
    [Tooltip("material of the reconstructed meshes (MRTK: Graphics Tools/Standard or Mixed Reality Toolkit/Standard)")]
    public Material material;
    [Tooltip("add a MeshCollider per object so MRTK pointers / ObjectManipulator can hit it")]
    public bool addColliders = false;
    [Tooltip("height of the annotation anchor above the top of the object (metres)")]
    public float anchorMargin = 0.03f;
    [Tooltip("reconnect delays start here and double up to 10 s")]
    public float initialBackoffSeconds = 0.5f;

    /// <summary>Raised on the main thread after an object's mesh and pose were applied.</summary>
    public event Action<uint, string, Transform, Transform> ObjectUpdated;  // id, class, object, anchor
    /// <summary>Raised on the main thread just before an object's GameObject is destroyed.</summary>
    public event Action<uint> ObjectRemoved;

    public bool IsConnected { get { return client != null && client.IsConnected; } }
    public int ObjectCount { get { return objects.Count; } }

    sealed class Entry
    {
        public GameObject gameObject;
        public Mesh mesh;
        public MeshCollider collider;
        public Transform anchor;
    }

    // BridgeClient raises events on its network thread; Unity objects may only be touched on the
    // main thread, so changes are queued (null mesh = removal) and applied in Update().
    readonly ConcurrentQueue<KeyValuePair<uint, MeshData>> changes = new ConcurrentQueue<KeyValuePair<uint, MeshData>>();
    readonly Dictionary<uint, Entry> objects = new Dictionary<uint, Entry>();
    BridgeClient client;

    void OnEnable()
    {
        client = new BridgeClient(url, token) { InitialBackoff = TimeSpan.FromSeconds(initialBackoffSeconds) };
        client.MeshUpdated += mesh => changes.Enqueue(new KeyValuePair<uint, MeshData>(mesh.ObjectId, mesh));
        client.ObjectRemoved += (id, sequence) => changes.Enqueue(new KeyValuePair<uint, MeshData>(id, null));
        client.ServerError += error => Debug.LogWarning("occnet bridge: server error " + error.Code + ": " + error.Message);
        client.FrameDropped += drop => Debug.LogWarning("occnet bridge: object " + drop.ObjectId + " skipped (" + drop.Size + " bytes)");
        client.HandlerError = error => Debug.LogException(error);
        client.Start();
    }

    void OnDisable()
    {
        if (client != null) client.Dispose();
        client = null;
        KeyValuePair<uint, MeshData> ignored;
        while (changes.TryDequeue(out ignored)) { }
        foreach (uint id in new List<uint>(objects.Keys)) Remove(id);
    }

    void Update()
    {
        // latest-only here too: several updates of one object in a frame cost one mesh upload
        var latest = new Dictionary<uint, MeshData>();
        var order = new List<uint>();
        KeyValuePair<uint, MeshData> change;
        while (changes.TryDequeue(out change))
        {
            if (!latest.ContainsKey(change.Key)) order.Add(change.Key);
            latest[change.Key] = change.Value;
        }
        foreach (uint id in order)
        {
            if (latest[id] == null) Remove(id);
            else Apply(latest[id]);
        }
    }

    void Apply(MeshData data)
    {
        Entry entry;
        if (!objects.TryGetValue(data.ObjectId, out entry))
        {
            entry = new Entry { gameObject = new GameObject() };
            entry.gameObject.transform.SetParent(transform, false);
            entry.mesh = new Mesh();
            entry.mesh.MarkDynamic();
            entry.gameObject.AddComponent<MeshFilter>().sharedMesh = entry.mesh;
            var meshRenderer = entry.gameObject.AddComponent<MeshRenderer>();
            if (material != null) meshRenderer.sharedMaterial = material;
            if (addColliders) entry.collider = entry.gameObject.AddComponent<MeshCollider>();
            entry.anchor = new GameObject("annotation anchor").transform;
            entry.anchor.SetParent(entry.gameObject.transform, false);
            objects[data.ObjectId] = entry;
        }
        entry.gameObject.name = "occnet " + data.ObjectId + " " + data.ClassName;

        var vertices = new Vector3[data.Vertices.Length];
        for (int i = 0; i < vertices.Length; i++) vertices[i] = new Vector3(data.Vertices[i].x, data.Vertices[i].y, data.Vertices[i].z);
        Mesh mesh = entry.mesh;
        mesh.Clear();
        mesh.indexFormat = vertices.Length > 65535 ? IndexFormat.UInt32 : IndexFormat.UInt16;
        mesh.vertices = vertices;
        mesh.triangles = data.Indices;  // already in Unity (clockwise-front) winding
        mesh.RecalculateNormals();
        mesh.RecalculateBounds();
        if (entry.collider != null) { entry.collider.sharedMesh = null; entry.collider.sharedMesh = mesh; }

        // vertices are metric in the object frame, so the transform's scale stays 1; the wire's
        // scale is the object's extents and only places the anchor when the mesh is empty
        Transform t = entry.gameObject.transform;
        t.localPosition = new Vector3(data.Position.x, data.Position.y, data.Position.z);
        t.localRotation = new Quaternion(data.Rotation.x, data.Rotation.y, data.Rotation.z, data.Rotation.w);
        t.localScale = Vector3.one;
        Bounds b = mesh.bounds;
        entry.anchor.localPosition = vertices.Length > 0
            ? new Vector3(b.center.x, b.max.y + anchorMargin, b.center.z)
            : new Vector3(0f, 0.5f * data.Scale.y + anchorMargin, 0f);
        entry.anchor.localRotation = Quaternion.identity;

        if (ObjectUpdated != null) ObjectUpdated(data.ObjectId, data.ClassName, t, entry.anchor);
    }

    void Remove(uint id)
    {
        Entry entry;
        if (!objects.TryGetValue(id, out entry)) return;
        if (ObjectRemoved != null) ObjectRemoved(id);
        objects.Remove(id);
        Destroy(entry.gameObject);
        Destroy(entry.mesh);
    }
}
