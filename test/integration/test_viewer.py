"""The browser viewer (occnet_ros/bridge/viewer) in headless Debian chromium against a real BridgeServer.

Chromium is driven over the DevTools protocol (its own --remote-debugging-port, through the
`websockets` package we already use) instead of `--screenshot --virtual-time-budget`: virtual
time runs ahead of real time while the page waits for WebSocket data (a 10 s budget elapses in
about a second), so a --screenshot can be taken before the meshes arrive. Here the test waits,
in real time, until the page itself reports the object, then takes the screenshot.
No skipping: without chromium the test fails and says how to install it.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import transforms3d
import trimesh
from PIL import Image
from websockets.sync.client import connect

from occnet_ros.bridge import protocol as p
from occnet_ros.bridge.server import BridgeServer, BridgeSettings

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-unsafe-swiftshader",  # software WebGL (SwiftShader) without a GPU
                  "--window-size=800,600", "--remote-debugging-port=0"]


class DevTools:
    """Minimal DevTools-protocol client: one page target, commands answered in order."""

    def __init__(self, chromium: str, user_data: Path) -> None:
        self.process = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={user_data}", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = user_data / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().split()) == 2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"chromium did not open its DevTools port (exit code {self.process.poll()})")
            time.sleep(0.05)
        port, path = active.read_text().split()
        self.ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=10)
        self.next_id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session or getattr(self, "session", None):
            message["sessionId"] = session or self.session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def status(self) -> dict:
        """The viewer's status line: its text and data attributes ({} before the page is there)."""
        return json.loads(self.evaluate(STATUS) or "{}")

    def wait_for(self, predicate, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status and predicate(status):
                return status
            time.sleep(0.05)
        raise AssertionError(f"the viewer never reached the expected state; status: {self.status()}")

    def screenshot(self, path: Path) -> np.ndarray:
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(png)
        return np.asarray(Image.open(BytesIO(png)).convert("RGB"), dtype=float)

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


STATUS = "(() => { const s = document.getElementById('status'); return s ? JSON.stringify({text: s.textContent, ...s.dataset}) : null; })()"


@pytest.fixture
def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the viewer test needs Debian's chromium: run `make build`, which installs it "
                    "(or: apt-get install -y chromium)")
    return path


def test_http_serves_the_viewer_files_and_nothing_else():
    server = BridgeServer(BridgeSettings(port=0, serve_viewer=True))
    port = server.start()
    try:
        def get(path):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                    return response.status, response.headers["Content-Type"], response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.headers["Content-Type"], b""

        status, kind, body = get("/")
        assert status == 200 and kind == "text/html" and b'src="viewer.js"' in body
        status, kind, body = get("/vendor/three.module.min.js")
        assert status == 200 and kind == "text/javascript" and b"SPDX-License-Identifier: MIT" in body[:200]
        assert get("/viewer.js")[:2] == (200, "text/javascript")
        assert get("/../server.py")[0] == 404 and get("/nothing.html")[0] == 404
    finally:
        server.stop()


def test_browser_viewer_shows_the_mesh_live(chromium, tmp_path):
    server = BridgeServer(BridgeSettings(port=0, serve_viewer=True, heartbeat_s=0.1, client_timeout_s=0.8))
    port = server.start()
    mesh = trimesh.creation.capsule(height=0.3, radius=0.15)
    position = np.array([1.0, 0.5, 0.3])
    w, x, y, z = transforms3d.quaternions.axangle2quat([0.2, 0.1, 1.0], 0.7)  # a rotated pose
    server.publish(p.MeshUpdate.from_ros(1, 1, "mug", position, [x, y, z, w], mesh.extents, mesh.vertices, mesh.faces))
    user_data = Path(tempfile.mkdtemp(prefix="occnet-chromium-"))
    browser = None
    try:
        browser = DevTools(chromium, user_data)
        browser.call("Emulation.setDeviceMetricsOverride", width=800, height=600, deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
        status = browser.wait_for(lambda s: s["state"] == "connected" and s["objects"] == "1" and int(s["heartbeats"]) >= 1 and s["bbox"])
        assert "1 object" in status["text"] and "connected" in status["text"]
        assert len(server.clients) == 1  # the page is the server's one client

        # decoded, converted and posed right: the page's world bounding box (three.js axes) is the
        # ROS world mesh's, mapped by three = (-y, z, -x); a positive volume means the winding is right
        world = mesh.vertices @ transforms3d.quaternions.quat2mat([w, x, y, z]).T + position
        three = np.stack([-world[:, 1], world[:, 2], -world[:, 0]], axis=1)
        expected = np.concatenate([three.min(axis=0), three.max(axis=0)])
        assert np.allclose([float(v) for v in status["bbox"].split(",")], expected, atol=2e-5), (status["bbox"], expected)
        assert float(status["volume"]) == pytest.approx(mesh.volume, rel=1e-4)

        with_mesh = browser.screenshot(tmp_path / "viewer.png")
        assert with_mesh.shape == (600, 800, 3)
        centre = (slice(150, 450), slice(250, 550))  # the viewer frames the objects in the middle
        assert with_mesh[centre].std() > 20, f"the centre of the screenshot is flat ({tmp_path / 'viewer.png'})"

        # the page answers heartbeats: with a 0.8 s timeout it is still connected a second later
        time.sleep(1.0)
        assert len(server.clients) == 1 and server.stats["evicted"] == 0

        # bad frames from the server are skipped and counted: same session, the object stays
        bad_index = bytearray(p.encode_mesh(p.MeshUpdate.from_ros(9, 1, "bad", [0, 0, 0], [0, 0, 0, 1], [1, 1, 1], np.zeros((3, 3)), [[0, 1, 2]])))
        bad_index[-2:] = (999).to_bytes(2, "little")
        bad = [b"\x03\x01\x00\x00", bytes(bad_index), bytes([42, 1, 0, 0]), bytes([7, 2, 0, 0]) + bytes(8), "a text message"]

        def push() -> None:  # as if the server sent them
            for client in server.clients.values():
                client.control.extend(bad)
                client.wake.set()

        server.loop.call_soon_threadsafe(push)
        after = browser.wait_for(lambda s: s.get("badFrames") == str(len(bad)), timeout=10)
        assert after["state"] == "connected" and after["session"] == status["session"] and after["objects"] == "1"
        assert f"{len(bad)} bad frames skipped" in after["text"]

        # it follows live removals; the same view without the mesh shows where the mesh was
        server.remove(1, 2)
        browser.wait_for(lambda s: s["objects"] == "0", timeout=10)
        without = browser.screenshot(tmp_path / "viewer_empty.png")
        changed = np.abs(with_mesh - without).sum(axis=2) > 60
        assert changed[centre].mean() > 0.15, f"the mesh covers only {changed[centre].mean():.1%} of the centre"
        rows, columns = np.nonzero(changed[80:])  # below the status line and the object list
        assert abs(rows.mean() + 80 - 300) < 100 and abs(columns.mean() - 400) < 100  # framed in the middle
    finally:
        if browser is not None:
            browser.close()
        server.stop()
        shutil.rmtree(user_data, ignore_errors=True)
