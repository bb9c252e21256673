// occnet bridge browser viewer: served by the bridge on the same port (GET /), speaks the binary
// protocol v1 (docs/bridge_protocol.md) over the WebSocket at the same host and port, and shows
// every object live with three.js. vendor/three.module.min.js is three@0.170.0 from npm (MIT,
// vendor/LICENSE.three), the last release whose module build is one self-contained file, committed
// so the viewer works offline; to reproduce it:
//   npm install --prefix build/viewer_deps three@0.170.0   (build/ is git-ignored)
//   cp build/viewer_deps/node_modules/three/build/three.module.min.js occnet_ros/bridge/viewer/vendor/
//   cp build/viewer_deps/node_modules/three/LICENSE occnet_ros/bridge/viewer/vendor/LICENSE.three
// sha256 08fd7545d13d2c7fb65ab691530a802dafefd638596501854f267d0fb13c39e7  three.module.min.js
//
// Axes. The wire carries Unity axes: left-handed, x right, y up, z forward. three.js is
// right-handed, x right, y up, z towards the viewer. We negate z, consistently:
//   point / position / vertex  (x, y, z)    -> (x, y, -z)
//   quaternion                 (x, y, z, w) -> (-x, -y, z, w)   (R' = S R S with S = diag(1, 1, -1))
//   triangle                   (a, b, c)    -> (a, c, b)        (S is a mirror: winding reverses)
// Negating z undoes the mirror the server applied (ROS -> Unity), so relative to ROS
// (x forward, y left, z up) three.js = (-y, z, -x): ROS up is three's y, the ROS ground is three's
// x-z plane, and the triangles are counter-clockwise seen from outside again (three's front).

import * as THREE from './vendor/three.module.min.js';

export const VERSION = 1;
export const FrameType = Object.freeze({
  HELLO: 1, WELCOME: 2, MESH_UPDATE: 3, OBJECT_REMOVED: 4, SNAPSHOT_BEGIN: 5, SNAPSHOT_END: 6,
  HEARTBEAT: 7, DROP_NOTICE: 8, ERROR: 9,
});
export const ErrorCode = Object.freeze({ 1: 'BAD_FRAME', 2: 'UNSUPPORTED_VERSION', 3: 'BAD_TOKEN', 4: 'TOO_MANY_CLIENTS', 5: 'HELLO_EXPECTED' });
const DropReason = Object.freeze({ 1: 'FRAME_TOO_LARGE' });

export class ProtocolError extends Error {}

// ---- decoding (little-endian, no alignment: DataView reads at any offset) ---------------------
class Reader {
  constructor(buffer) {
    this.view = new DataView(buffer);
    this.offset = 0;
  }

  need(bytes) {
    if (this.offset + bytes > this.view.byteLength) throw new ProtocolError('frame is truncated');
  }

  u8() { this.need(1); return this.view.getUint8(this.offset++); }
  u16() { this.need(2); const v = this.view.getUint16(this.offset, true); this.offset += 2; return v; }
  u32() { this.need(4); const v = this.view.getUint32(this.offset, true); this.offset += 4; return v; }
  f32() { this.need(4); const v = this.view.getFloat32(this.offset, true); this.offset += 4; return v; }
  f64() { this.need(8); const v = this.view.getFloat64(this.offset, true); this.offset += 8; return v; }

  string() {
    const length = this.u16();
    this.need(length);
    const bytes = new Uint8Array(this.view.buffer, this.view.byteOffset + this.offset, length);
    this.offset += length;
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new ProtocolError('string is not UTF-8');
    }
  }

  done() {
    const left = this.view.byteLength - this.offset;
    if (left !== 0) throw new ProtocolError(`${left} unexpected trailing bytes`);
  }
}

/** Parse one frame (an ArrayBuffer); throws ProtocolError like protocol.py's decode. */
export function decode(buffer) {
  const r = new Reader(buffer);
  const type = r.u8();
  const version = r.u8();
  r.u16();  // reserved
  if (version !== VERSION) throw new ProtocolError(`unsupported protocol version ${version}`);
  const f = { type };
  switch (type) {
    case FrameType.HELLO: f.version = r.u16(); f.token = r.string(); break;
    case FrameType.WELCOME: f.version = r.u16(); f.session = r.u32(); f.objects = r.u32(); break;
    case FrameType.MESH_UPDATE: {
      f.objectId = r.u32(); f.sequence = r.u32(); f.className = r.string();
      f.position = [r.f32(), r.f32(), r.f32()];
      f.rotation = [r.f32(), r.f32(), r.f32(), r.f32()];  // x, y, z, w
      f.scale = [r.f32(), r.f32(), r.f32()];             // extents, metres
      const nVertices = r.u32(), nIndices = r.u32(), indexSize = r.u8();
      if ((indexSize !== 2 && indexSize !== 4) || nIndices % 3 !== 0) throw new ProtocolError('bad index size or count');
      r.need(12 * nVertices + indexSize * nIndices);
      f.vertices = new Float32Array(3 * nVertices);
      for (let i = 0; i < f.vertices.length; i++) f.vertices[i] = r.f32();
      f.indexSize = indexSize;
      f.indices = indexSize === 2 ? new Uint16Array(nIndices) : new Uint32Array(nIndices);
      for (let i = 0; i < nIndices; i++) {
        const index = indexSize === 2 ? r.u16() : r.u32();
        if (index >= nVertices) throw new ProtocolError('triangle index out of range');
        f.indices[i] = index;
      }
      break;
    }
    case FrameType.OBJECT_REMOVED: f.objectId = r.u32(); f.sequence = r.u32(); break;
    case FrameType.SNAPSHOT_BEGIN:
    case FrameType.SNAPSHOT_END: f.count = r.u32(); break;
    case FrameType.HEARTBEAT: f.time = r.f64(); break;
    case FrameType.DROP_NOTICE: {
      f.objectId = r.u32(); f.sequence = r.u32();
      const reason = r.u8();
      if (!(reason in DropReason)) throw new ProtocolError(`unknown DropReason ${reason}`);
      f.reason = DropReason[reason]; f.size = r.u32();
      break;
    }
    case FrameType.ERROR: {
      const code = r.u16();
      if (!(code in ErrorCode)) throw new ProtocolError(`unknown ErrorCode ${code}`);
      f.code = ErrorCode[code]; f.message = r.string();
      break;
    }
    default: throw new ProtocolError(`unknown frame type ${type}`);
  }
  r.done();
  return f;
}

function header(view, type) {
  view.setUint8(0, type);
  view.setUint8(1, VERSION);
  view.setUint16(2, 0, true);
}

export function encodeHello(token = '') {
  const bytes = new TextEncoder().encode(token);
  if (bytes.length > 0xffff) throw new ProtocolError('string longer than 65535 bytes');
  const buffer = new ArrayBuffer(8 + bytes.length);
  const view = new DataView(buffer);
  header(view, FrameType.HELLO);
  view.setUint16(4, VERSION, true);
  view.setUint16(6, bytes.length, true);
  new Uint8Array(buffer, 8).set(bytes);
  return buffer;
}

export function encodeHeartbeat(time) {
  const buffer = new ArrayBuffer(12);
  const view = new DataView(buffer);
  header(view, FrameType.HEARTBEAT);
  view.setFloat64(4, time, true);
  return buffer;
}

// ---- Unity axes -> three.js axes (see the comment at the top) -----------------------------------
export function unityToThreePoints(vertices) {
  const out = new Float32Array(vertices.length);
  for (let i = 0; i < vertices.length; i += 3) {
    out[i] = vertices[i];
    out[i + 1] = vertices[i + 1];
    out[i + 2] = -vertices[i + 2];
  }
  return out;
}

export function unityToThreeQuaternion([x, y, z, w]) { return [-x, -y, z, w]; }

export function flipWinding(indices) {
  const out = new indices.constructor(indices.length);
  for (let i = 0; i < indices.length; i += 3) {
    out[i] = indices[i];
    out[i + 1] = indices[i + 2];
    out[i + 2] = indices[i + 1];
  }
  return out;
}

// ---- the page -------------------------------------------------------------------------------
class Viewer {
  constructor(container, statusElement, listElement) {
    this.status = statusElement;
    this.list = listElement;
    this.objects = new Map();  // id -> { mesh, sequence, className }
    this.state = 'connecting';
    this.session = null;
    this.heartbeats = 0;
    this.badFrames = 0;  // frames that did not decode or could not be shown: skipped, counted
    this.lastHeartbeat = null;
    this.message = '';
    this.fatal = false;
    this.backoff = 500;
    this.snapshotSeen = null;
    this.userMoved = false;

    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    container.appendChild(this.renderer.domElement);
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0x20232a);
    this.camera = new THREE.PerspectiveCamera(50, 1, 0.01, 200);
    this.target = new THREE.Vector3(0, 0, 0);
    this.orbit = { azimuth: Math.PI / 4, elevation: 0.6, distance: 4 };

    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x404040, 2.0));
    const sun = new THREE.DirectionalLight(0xffffff, 2.0);
    sun.position.set(3, 6, 4);
    this.scene.add(sun);
    this.scene.add(groundGrid(10, 40));  // the ROS ground plane (z = 0)
    // ROS world axes, drawn in three's axes: x forward = -z (red), y left = -x (green), z up = +y (blue)
    const axes = [[[0, 0, -1], 0xe05c5c], [[-1, 0, 0], 0x5fd35f], [[0, 1, 0], 0x5c8ae0]];
    for (const [[x, y, z], color] of axes) {
      const geometry = new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(0, 0, 0), new THREE.Vector3(x * 0.5, y * 0.5, z * 0.5)]);
      this.scene.add(new THREE.Line(geometry, new THREE.LineBasicMaterial({ color })));
    }
    this.group = new THREE.Group();
    this.scene.add(this.group);

    this.bindControls(this.renderer.domElement);
    window.addEventListener('resize', () => this.resize());
    this.resize();
    this.renderer.setAnimationLoop(() => this.render());
    setInterval(() => this.showStatus(), 250);
  }

  // ---- connection ----
  connect() {
    const token = new URLSearchParams(location.search).get('token') || '';
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.setState('connecting');
    const ws = new WebSocket(`${scheme}://${location.host}/`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => ws.send(encodeHello(token));
    ws.onmessage = (event) => {
      // a bad frame is skipped and counted; the connection and every object shown stay
      try {
        if (!(event.data instanceof ArrayBuffer)) throw new ProtocolError('frames are binary WebSocket messages');
        this.handle(decode(event.data), ws);
      } catch (error) {
        this.badFrames += 1;
        if (this.badFrames === 1 || this.badFrames % 100 === 0) console.error(`occnet viewer: bad frame #${this.badFrames}`, error);
        this.showStatus();
      }
    };
    ws.onclose = (event) => {
      this.snapshotSeen = null;
      if (this.fatal) return;
      this.setState('disconnected', event.reason || `closed (${event.code})`);
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(10000, this.backoff * 2);
    };
  }

  handle(f, ws) {
    switch (f.type) {
      case FrameType.WELCOME:
        this.session = f.session;
        this.backoff = 500;
        this.setState('connected');
        break;
      case FrameType.SNAPSHOT_BEGIN:
        this.snapshotSeen = new Set();
        break;
      case FrameType.SNAPSHOT_END:
        // the snapshot is the full state: forget objects removed while we were away
        if (this.snapshotSeen) for (const id of [...this.objects.keys()]) if (!this.snapshotSeen.has(id)) this.remove(id);
        this.snapshotSeen = null;
        break;
      case FrameType.MESH_UPDATE:
        if (this.snapshotSeen) this.snapshotSeen.add(f.objectId);
        this.update(f);
        break;
      case FrameType.OBJECT_REMOVED:
        this.remove(f.objectId);
        break;
      case FrameType.DROP_NOTICE:
        if (this.snapshotSeen) this.snapshotSeen.add(f.objectId);
        console.warn(`occnet viewer: object ${f.objectId} rev ${f.sequence} not sent (${f.size} bytes)`);
        break;
      case FrameType.HEARTBEAT:
        ws.send(encodeHeartbeat(Date.now() / 1000));
        this.heartbeats += 1;
        this.lastHeartbeat = performance.now();
        break;
      case FrameType.ERROR:
        this.fatal = f.code === 'BAD_TOKEN' || f.code === 'UNSUPPORTED_VERSION';
        this.setState('error', `${f.code}: ${f.message}`);
        break;
      default:
        break;
    }
  }

  setState(state, message = '') {
    this.state = state;
    this.message = message;
    this.showStatus();
  }

  // ---- objects ----
  update(f) {
    let entry = this.objects.get(f.objectId);
    if (!entry) {
      const material = new THREE.MeshStandardMaterial({ color: colorFor(f.className), roughness: 0.55, metalness: 0.0 });
      entry = { mesh: new THREE.Mesh(new THREE.BufferGeometry(), material) };
      this.objects.set(f.objectId, entry);
      this.group.add(entry.mesh);
    }
    entry.sequence = f.sequence;
    entry.className = f.className;
    entry.vertexCount = f.vertices.length / 3;
    entry.triangleCount = f.indices.length / 3;
    const geometry = new THREE.BufferGeometry();
    geometry.setAttribute('position', new THREE.BufferAttribute(unityToThreePoints(f.vertices), 3));
    geometry.setIndex(new THREE.BufferAttribute(flipWinding(f.indices), 1));
    geometry.computeVertexNormals();
    entry.mesh.geometry.dispose();
    entry.mesh.geometry = geometry;
    const [x, y, z] = f.position;
    entry.mesh.position.set(x, y, -z);
    entry.mesh.quaternion.set(...unityToThreeQuaternion(f.rotation));
    entry.mesh.name = `${f.objectId} ${f.className}`;
    this.changed();
  }

  remove(id) {
    const entry = this.objects.get(id);
    if (!entry) return;
    this.group.remove(entry.mesh);
    entry.mesh.geometry.dispose();
    entry.mesh.material.dispose();
    this.objects.delete(id);
    this.changed();
  }

  changed() {
    this.group.updateMatrixWorld(true);
    const box = new THREE.Box3().setFromObject(this.group, true);  // precise: every vertex, not rotated local boxes
    this.bbox = box.isEmpty() ? null : box;
    if (!this.userMoved) this.fit();
    this.volume = signedVolume(this.group);
    this.list.replaceChildren(...[...this.objects.entries()].sort((a, b) => a[0] - b[0]).map(([id, e]) => {
      const item = document.createElement('li');
      item.textContent = `${id} ${e.className} rev ${e.sequence}: ${e.triangleCount} triangles`;
      return item;
    }));
    this.showStatus();
  }

  showStatus() {
    const n = this.objects.size;
    let text = this.state === 'connected' ? `connected (session ${this.session})` : this.state;
    if (this.message) text += `: ${this.message}`;
    text += ` \u00b7 ${n} object${n === 1 ? '' : 's'}`;
    if (this.badFrames) text += ` \u00b7 ${this.badFrames} bad frame${this.badFrames === 1 ? '' : 's'} skipped`;
    text += this.lastHeartbeat === null ? ' \u00b7 no heartbeat yet'
      : ` \u00b7 last heartbeat ${((performance.now() - this.lastHeartbeat) / 1000).toFixed(1)} s ago`;
    const s = this.status;
    s.textContent = text;
    s.dataset.state = this.state;
    s.dataset.objects = String(n);
    s.dataset.heartbeats = String(this.heartbeats);
    s.dataset.badFrames = String(this.badFrames);
    s.dataset.session = this.session === null ? '' : String(this.session);
    // for tests and debugging: world bounding box (three.js axes) and signed volume of all meshes
    s.dataset.bbox = this.bbox ? [...this.bbox.min.toArray(), ...this.bbox.max.toArray()].map((v) => v.toFixed(5)).join(',') : '';
    s.dataset.volume = this.volume === undefined ? '' : this.volume.toFixed(7);
  }

  // ---- camera ----
  fit() {
    if (!this.bbox) return;
    const sphere = this.bbox.getBoundingSphere(new THREE.Sphere());
    this.target.copy(sphere.center);
    const fov = THREE.MathUtils.degToRad(this.camera.fov);
    const aspect = Math.max(this.camera.aspect, 1e-3);
    const halfAngle = Math.min(fov / 2, Math.atan(Math.tan(fov / 2) * aspect));
    this.orbit.distance = Math.max(0.05, 1.3 * sphere.radius / Math.sin(halfAngle));
  }

  bindControls(element) {
    let drag = null;
    element.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, y: e.clientY }; element.setPointerCapture(e.pointerId); });
    element.addEventListener('pointerup', () => { drag = null; });
    element.addEventListener('pointermove', (e) => {
      if (!drag) return;
      this.orbit.azimuth -= (e.clientX - drag.x) * 0.008;
      this.orbit.elevation = Math.min(1.5, Math.max(-1.5, this.orbit.elevation + (e.clientY - drag.y) * 0.008));
      drag = { x: e.clientX, y: e.clientY };
      this.userMoved = true;
    });
    element.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.orbit.distance = Math.min(100, Math.max(0.05, this.orbit.distance * Math.exp(e.deltaY * 0.001)));
      this.userMoved = true;
    }, { passive: false });
    element.addEventListener('dblclick', () => { this.userMoved = false; this.fit(); });
  }

  resize() {
    const width = window.innerWidth, height = window.innerHeight;
    this.renderer.setSize(width, height);
    this.camera.aspect = width / Math.max(1, height);
    this.camera.updateProjectionMatrix();
    if (!this.userMoved) this.fit();
  }

  render() {
    const { azimuth, elevation, distance } = this.orbit;
    this.camera.position.set(
      this.target.x + distance * Math.cos(elevation) * Math.sin(azimuth),
      this.target.y + distance * Math.sin(elevation),
      this.target.z + distance * Math.cos(elevation) * Math.cos(azimuth),
    );
    this.camera.lookAt(this.target);
    this.renderer.render(this.scene, this.camera);
  }
}

/** A grid on three's x-z plane made of one-cell segments. (GridHelper draws each line in one
 *  piece; software WebGL (SwiftShader) drops lines with an end behind the camera, so a camera
 *  standing over a big grid would see no grid at all.) */
function groundGrid(size, divisions) {
  const step = size / divisions, half = size / 2, points = [], colors = [];
  const major = new THREE.Color(0x7a8596), minor = new THREE.Color(0x4a5060);
  for (let i = 0; i <= divisions; i++) {
    const u = -half + i * step, color = i === divisions / 2 ? major : minor;
    for (let j = 0; j < divisions; j++) {
      const a = -half + j * step, b = a + step;
      points.push(u, 0, a, u, 0, b, a, 0, u, b, 0, u);
      for (let k = 0; k < 4; k++) colors.push(color.r, color.g, color.b);
    }
  }
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.Float32BufferAttribute(points, 3));
  geometry.setAttribute('color', new THREE.Float32BufferAttribute(colors, 3));
  return new THREE.LineSegments(geometry, new THREE.LineBasicMaterial({ vertexColors: true }));
}

function colorFor(name) {
  let hash = 0;
  for (const c of name) hash = (hash * 31 + c.codePointAt(0)) >>> 0;
  return new THREE.Color().setHSL((hash % 360) / 360, 0.6, 0.6);
}

/** Sum of the signed volumes of all meshes in world space: positive when the triangles are
 *  counter-clockwise seen from outside (three.js front faces), i.e. the winding is right. */
function signedVolume(group) {
  let total = 0;
  const a = new THREE.Vector3(), b = new THREE.Vector3(), c = new THREE.Vector3();
  group.traverse((object) => {
    if (!object.isMesh) return;
    const position = object.geometry.getAttribute('position'), index = object.geometry.getIndex();
    if (!position || !index) return;
    for (let i = 0; i < index.count; i += 3) {
      a.fromBufferAttribute(position, index.getX(i)).applyMatrix4(object.matrixWorld);
      b.fromBufferAttribute(position, index.getX(i + 1)).applyMatrix4(object.matrixWorld);
      c.fromBufferAttribute(position, index.getX(i + 2)).applyMatrix4(object.matrixWorld);
      total += a.dot(b.cross(c)) / 6;
    }
  });
  return total;
}

if (typeof document !== 'undefined' && document.getElementById('view')) {
  const status = document.getElementById('status');
  try {
    const viewer = new Viewer(document.getElementById('view'), status, document.getElementById('objects'));
    viewer.connect();
    window.occnetViewer = viewer;
  } catch (error) {
    status.dataset.state = 'error';
    status.textContent = `cannot start the viewer (WebGL?): ${error.message}`;
  }
}
