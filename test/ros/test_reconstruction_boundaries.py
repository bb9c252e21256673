"""Every callback of the reconstruction node is a boundary (issue 19): an exception from one
observation, one service request, one timer tick or one step of the worker loop is counted by
reason (``<callback>_<ExceptionType>``) in its diagnostics, a service answers failure with the
reason, and the node answers afterwards. In-process node, loopback, deadlines."""

from __future__ import annotations

import pytest
from ros_helpers import REPO, Probe

from occnet_ros.srv import ListObjects, Reconstruct, SaveMeshes


@pytest.fixture(scope="module")
def reconstruction():
    from occnet_ros.model.checkpoint import default_checkpoint
    from occnet_ros.nodes.registry import RECONSTRUCTION
    from occnet_ros.nodes.runner import NodeRunner

    overrides = {"reconstruction": {"checkpoint": str(default_checkpoint())}}
    runner = NodeRunner((RECONSTRUCTION,), REPO / "config" / "occnet.yaml", overrides).start()
    probe = None
    try:
        probe = Probe(runner)
        yield runner.nodes["reconstruction"], probe
    finally:
        if probe is not None:
            probe.node.destroy_node()
        runner.shutdown()


def counted(node, reason: str) -> int:
    return node.diagnostic_counts().get(reason, 0)


def fail_first(calls: list, original=None):
    """A stand-in that raises on its first call and then does what ``original`` does."""

    def stand_in(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("injected failure")
        return original(*args) if original is not None else None

    return stand_in


def test_an_observation_that_raises_is_counted_and_the_next_one_is_stored(reconstruction, monkeypatch):
    node, probe = reconstruction
    calls: list = []
    monkeypatch.setattr(node, "convert_views", fail_first(calls, node.convert_views))
    probe.observe(11)
    assert probe.spin(lambda: counted(node, "observation_RuntimeError") == 1), node.diagnostic_counts()
    assert 11 not in node.objects
    probe.observe(12)
    assert probe.spin(lambda: 12 in node.objects), node.diagnostic_counts()
    assert 12 in probe.listed()


def test_a_service_request_that_raises_answers_failure_with_the_reason(reconstruction, monkeypatch, tmp_path):
    node, probe = reconstruction
    probe.observe(21)
    assert probe.spin(lambda: 21 in node.objects)
    # a directory no home can be found for: Path.expanduser raises RuntimeError inside the handler
    reply = probe.call(probe.save, SaveMeshes.Request(directory="~no_such_user_occnet/meshes"))
    assert not reply.success and "save_meshes failed: RuntimeError" in reply.message, reply.message
    assert counted(node, "save_meshes_RuntimeError") >= 1
    assert probe.call(probe.save, SaveMeshes.Request(directory=str(tmp_path))).success  # nothing reconstructed: none written

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr("occnet_ros.nodes.reconstruction.ObjectSummary", broken)
    assert probe.call(probe.list, ListObjects.Request()).objects == []  # an empty answer, never half of one
    assert counted(node, "list_objects_RuntimeError") >= 1
    monkeypatch.undo()
    assert 21 in probe.listed()

    monkeypatch.setattr(node, "enqueue", broken)
    reply = probe.call(probe.reconstruct, Reconstruct.Request(ids=[21]))
    assert not reply.success and "reconstruct failed: RuntimeError: injected failure" in reply.message, reply.message
    assert counted(node, "reconstruct_RuntimeError") >= 1
    monkeypatch.undo()


def test_the_worker_loop_goes_on_after_a_step_that_raises(reconstruction, monkeypatch):
    node, probe = reconstruction
    probe.observe(31)
    assert probe.spin(lambda: 31 in node.objects)
    calls: list = []
    monkeypatch.setattr(node, "reconstruct_object", fail_first(calls))  # no model run: the loop is under test
    assert probe.call(probe.reconstruct, Reconstruct.Request(ids=[31])).success
    assert probe.spin(lambda: counted(node, "worker_RuntimeError") == 1), node.diagnostic_counts()
    assert probe.call(probe.reconstruct, Reconstruct.Request(ids=[31])).success
    assert probe.spin(lambda: len(calls) >= 2 and node.idle), (len(calls), node.diagnostic_counts())
    assert calls[-1][0].id == 31 and counted(node, "worker_RuntimeError") == 1


def test_a_diagnostics_tick_that_raises_is_counted_and_the_timer_goes_on(reconstruction, monkeypatch):
    node, probe = reconstruction
    calls: list = []
    monkeypatch.setattr(node, "diagnostic_counts", fail_first(calls, node.diagnostic_counts))

    def reported() -> bool:
        for array in probe.diagnostics:
            for status in array.status:
                values = {v.key: v.value for v in status.values}
                if status.name.endswith("reconstruction") and values.get("diagnostics_RuntimeError") == "1":
                    return status.level == status.WARN
        return False

    assert probe.spin(reported, 15), [s.values for a in probe.diagnostics for s in a.status]
    assert len(calls) >= 2
