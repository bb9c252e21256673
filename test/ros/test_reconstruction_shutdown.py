"""Shutting down while a mesh is being made: close() cancels the reconstruction at its next batch
of queries and joins the worker, so the process never exits while torch runs on that thread (a
launch test once saw the node abort with 'terminate called without an active exception' after
SIGINT, its 2 s join outlived by an 8 s mesh on a loaded machine). In-process node, real model,
each batch of queries slowed down so the mesh outlasts the test."""

from __future__ import annotations

import time

from ros_helpers import REPO, Probe

from occnet_ros.srv import Reconstruct


def test_close_cancels_a_running_reconstruction_and_stops_the_worker(monkeypatch):
    from occnet_ros.complete import reconstruct as reconstruct_module
    from occnet_ros.model.checkpoint import default_checkpoint
    from occnet_ros.nodes.registry import RECONSTRUCTION
    from occnet_ros.nodes.runner import NodeRunner

    batches = []
    real_extract = reconstruct_module.extract_mesh

    def slow_extract(fn, *args, **kwargs):
        def slow(points):
            batches.append(time.monotonic())
            time.sleep(0.3)
            return fn(points)  # the reconstructor's own function: its cancel check runs here
        return real_extract(slow, *args, **kwargs)

    monkeypatch.setattr(reconstruct_module, "extract_mesh", slow_extract)
    overrides = {"reconstruction": {"checkpoint": str(default_checkpoint()), "use_evidence": False}}
    runner = NodeRunner((RECONSTRUCTION,), REPO / "config" / "occnet.yaml", overrides).start()
    node = runner.nodes["reconstruction"]
    probe = Probe(runner)
    try:
        probe.observe(7)
        assert probe.spin(lambda: 7 in node.objects)
        assert probe.call(probe.reconstruct, Reconstruct.Request(ids=[7])).success
        assert probe.spin(lambda: len(batches) >= 2, timeout=30), "the reconstruction did not start"
        assert node.busy
        start = time.monotonic()
        node.close()
        closed_in = time.monotonic() - start
    finally:
        probe.node.destroy_node()
        runner.shutdown()
    assert not node.worker.is_alive() and closed_in < 2.0, closed_in  # one batch (0.3 s), not the whole mesh
    assert node.failures == 0 and node.reconstructions == 0 and not node.diagnostic_counts().get("worker_ReconstructionCancelled")
