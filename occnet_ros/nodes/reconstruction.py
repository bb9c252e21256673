"""Reconstruction node: object observations -> watertight meshes, markers and services.

Reconstruction runs on a worker thread fed by a bounded, latest-request-wins queue (one
entry per object), so the executor that receives observations never blocks. A failure of
one object is logged with its id and marks it FAILED; the others go on. Every callback (the
observation subscription, the services, the diagnostics timer, each step of the worker loop) is a
boundary (``occnet_ros.nodes.boundary``): an exception is logged once per reason, then
rate-limited, counted by reason (``<callback>_<ExceptionType>``) on ``/diagnostics``, a service
answers failure with the reason, and the node goes on. Diagnostics levels come from the last few
seconds (observe/rates.py), the values are lifetime counts.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import trimesh
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Vector3
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from occnet_ros.complete.pipeline import ObjectMesh, ObjectPipeline
from occnet_ros.complete.postprocess import PostprocessSettings
from occnet_ros.complete.reconstruct import load_reconstructor
from occnet_ros.geometry.files import MESH_FORMATS, mesh_file_name, path_inside, save_mesh_atomic
from occnet_ros.geometry.views import DepthView, ViewError
from occnet_ros.model.checkpoint import CheckpointError, default_checkpoint
from occnet_ros.msg import ObjectObservation, ObjectSummary, ReconstructedObject, ReconstructedObjectArray, StageTimings
from occnet_ros.nodes import parameters, qos
from occnet_ros.nodes.boundary import CallbackBoundary, boundary
from occnet_ros.nodes.common import ConfigurationError, declare_parameters, run_node
from occnet_ros.nodes.conversions import cloud_to_xyz, matrix_to_pose, mesh_to_msg, view_from_msg
from occnet_ros.nodes.markers import full_array, object_markers
from occnet_ros.observe.rates import OK, WARN, WINDOW_S, RecentCounts, rate_level, worst
from occnet_ros.srv import ListObjects, Reconstruct, SaveMeshes

CLOSE_TIMEOUT_S = 4.0  # under launch's 5 s from SIGINT to SIGTERM; post-processing (not cancellable) takes up to ~2 s


@dataclass
class ObjectState:
    id: int
    class_name: str
    points: np.ndarray
    views: int
    stamp: Any
    depth_views: list[DepthView] = field(default_factory=list, repr=False)
    status: int = ReconstructedObject.STATUS_OBSERVING
    message: str = ""
    revision: int = 0
    result: ObjectMesh | None = None
    requested_at: float = 0.0
    last_total_s: float = 0.0
    result_stamp: Any = None  # stamp of the newest view in ``result`` (``stamp`` may be newer already)
    msg: ReconstructedObject | None = field(default=None, repr=False)
    markers: list = field(default_factory=list, repr=False)  # mesh + label of the latest mesh


class ReconstructionNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("reconstruction", **kwargs)
        self.params = declare_parameters(self, parameters.RECONSTRUCTION, {"marker_alpha", "save_directory", "use_evidence"})
        p = self.params
        if p["torch_threads"]:
            torch.set_num_threads(p["torch_threads"])
        self.pipeline = self._load_pipeline()
        self.objects: dict[int, ObjectState] = {}
        self.lock = threading.Lock()
        self.publish_lock = threading.Lock()  # snapshot + publish of objects/array and markers, in order
        self.queue: OrderedDict[int, float] = OrderedDict()
        self.wakeup = threading.Condition(self.lock)
        self.dropped_requests = 0
        self.views_dropped: Counter = Counter()  # per reason: bad_message, behind_camera
        self.reconstructions = 0
        self.failures = 0
        self.views_received = 0
        self.recent = RecentCounts(WINDOW_S, start=time.monotonic())  # reconstructions
        self.recent_views = RecentCounts(WINDOW_S, start=time.monotonic())
        self.running = True
        self.busy = False
        self.boundary = CallbackBoundary(self.get_logger())  # every callback's exceptions, by reason
        group = MutuallyExclusiveCallbackGroup()
        self.object_pub = self.create_publisher(ReconstructedObject, "objects", qos.OBJECTS)
        self.array_pub = self.create_publisher(ReconstructedObjectArray, "objects/array", qos.LATCHED)
        self.marker_pub = self.create_publisher(MarkerArray, "markers", qos.MARKERS)
        self.create_subscription(ObjectObservation, "objects/observations", self.on_observation, qos.OBSERVATIONS, callback_group=group)
        self.create_service(Reconstruct, "~/reconstruct", self.on_reconstruct, callback_group=group)
        self.create_service(SaveMeshes, "~/save_meshes", self.on_save, callback_group=group)
        self.create_service(ListObjects, "~/list_objects", self.on_list, callback_group=group)
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        self.create_timer(1.0, self.publish_diagnostics, callback_group=group)
        self.worker = threading.Thread(target=self.work, name="reconstruction-worker", daemon=True)
        self.worker.start()

    def _load_pipeline(self) -> ObjectPipeline:
        p = self.params
        try:
            # without the views' evidence the point-only model is the better prior
            path = Path(p["checkpoint"]).expanduser() if p["checkpoint"] else default_checkpoint(point_only=not p["use_evidence"])
            reconstructor = load_reconstructor(path, p["device"], p["resolution0"], p["upsampling_steps"], p["threshold"] or None,
                                               p["refine_margin"], bf16=p["bf16"], input_resamplings=p["input_resamplings"],
                                               max_handles=p["max_handles"] or None)
        except (CheckpointError, FileNotFoundError, RuntimeError, ValueError) as error:
            raise ConfigurationError(f"cannot load the model: {error}") from error
        if reconstructor.evidence is not None:
            reconstructor.evidence = replace(reconstructor.evidence, pose_tolerance_m=p["pose_tolerance_m"])
        reconstructor.symmetry = replace(reconstructor.symmetry, enabled=p["mirror_symmetry"], second_plane=p["mirror_second_plane"])
        reconstructor.revolution = replace(reconstructor.revolution, enabled=p["revolution_symmetry"])
        extraction = reconstructor.extraction
        post = PostprocessSettings(smoothing_iterations=p["smoothing_iterations"], min_component_fraction=p["min_component_fraction"],
                                   keep_seen_components=p["keep_seen_components"], max_triangles=p["max_triangles"])
        self.get_logger().info(
            f"model {path} on {reconstructor.device} (asked: {p['device']}, cuda available: {torch.cuda.is_available()}), "
            f"MISE {extraction.resolution0}->{extraction.resolution}, threshold {extraction.threshold:.2f}, "
            f"{reconstructor.input_resamplings} input resamplings"
        )
        return ObjectPipeline(reconstructor, post)

    # ---- inputs -----------------------------------------------------------------------
    @boundary("observation")
    def on_observation(self, msg: ObjectObservation) -> None:
        if msg.action == ObjectObservation.ACTION_REMOVE:
            self.remove(msg.id)
            return
        try:
            points = cloud_to_xyz(msg.cloud)
        except ValueError as error:
            self.get_logger().warning(f"object {msg.id}: bad cloud ({error}); ignored", throttle_duration_sec=2.0)
            return
        views = self.convert_views(msg)
        with self.lock:
            state = self.objects.get(msg.id)
            if state is None:
                state = self.objects[msg.id] = ObjectState(msg.id, msg.class_name, points, len(msg.views), msg.header.stamp)
            state.points, state.views, state.stamp, state.class_name = points, len(msg.views), msg.header.stamp, msg.class_name
            state.depth_views = views
        if msg.request_reconstruction:
            self.enqueue(msg.id)

    def convert_views(self, msg: ObjectObservation) -> list[DepthView]:
        """The message's views; a malformed one is skipped, counted and logged (never fatal)."""
        views = []
        with self.lock:
            self.views_received += len(msg.views)
        for index, view in enumerate(msg.views):
            try:
                views.append(view_from_msg(view, self.params["world_frame"]))
            except ViewError as error:
                with self.lock:
                    self.views_dropped["bad_message"] += 1
                self.get_logger().warning(f"object {msg.id}: view {index} skipped: {error}", throttle_duration_sec=2.0)
        return views

    def enqueue(self, obj_id: int) -> bool:
        """Queue an object (latest request wins); the oldest request is dropped when full."""
        with self.wakeup:
            if obj_id not in self.objects:
                return False
            if obj_id in self.queue:
                self.queue.move_to_end(obj_id)
            elif len(self.queue) >= self.params["queue_size"]:
                dropped, _ = self.queue.popitem(last=False)
                self.dropped_requests += 1
                self.get_logger().warning(f"reconstruction queue full: dropped the request of object {dropped}")
            self.queue[obj_id] = time.perf_counter()
            self.wakeup.notify()
        return True

    def remove(self, obj_id: int) -> None:
        with self.lock:
            existed = self.objects.pop(obj_id, None) is not None
            self.queue.pop(obj_id, None)
        if existed:
            self.publish_array()
            self.get_logger().info(f"object {obj_id} removed")

    # ---- worker -----------------------------------------------------------------------
    def work(self) -> None:
        while self.work_once() is not False:  # None: that step failed (counted); the loop goes on
            pass

    @boundary("worker")
    def work_once(self) -> bool:
        """One request from the queue (or a wait for one); False once the node closes."""
        with self.wakeup:
            while self.running and not self.queue:
                self.wakeup.wait(timeout=0.5)
            if not self.running:
                return False
            obj_id, requested = self.queue.popitem(last=False)
            state = self.objects.get(obj_id)
            if state is None:
                return True
            points, previous = state.points.copy(), state.result
            views = list(state.depth_views) if self.params["use_evidence"] else None
            stamp = state.stamp
            self.busy = True
        try:
            self.reconstruct_object(state, points, previous, requested, views, stamp)
        except Exception:
            if self.running:
                raise  # the boundary counts it
            return False  # a mesh that outlived close(): its publishers are gone with the node
        finally:
            self.busy = False
        return True

    @property
    def idle(self) -> bool:
        with self.lock:
            return not self.queue and not self.busy

    def reconstruct_object(self, state: ObjectState, points: np.ndarray, previous: ObjectMesh | None, requested: float,
                           views: list[DepthView] | None = None, stamp: Any = None) -> None:
        try:
            result = self.pipeline.run(points, previous, views or None, class_name=state.class_name)
            if not np.isfinite(result.mesh_world.vertices).all():
                raise FloatingPointError("non-finite mesh vertices")
        except Exception as error:  # one object's failure must not stop the others
            if not self.running:
                raise  # cancelled by close(): nothing failed
            self.get_logger().error(f"object {state.id} ({state.class_name}): reconstruction failed: {error}")
            with self.lock:
                state.status, state.message = ReconstructedObject.STATUS_FAILED, str(error)
                self.failures += 1
            self.publish_object(state)
            return
        total = time.perf_counter() - requested
        with self.lock:
            state.result, state.status, state.message = result, ReconstructedObject.STATUS_RECONSTRUCTED, ""
            state.result_stamp = stamp
            state.revision += 1
            state.last_total_s = total
            self.reconstructions += 1
            self.views_dropped["behind_camera"] += result.views_dropped
        evidence = f", evidence of {result.views_used} views" if views else ", prior only"
        dropped = f" ({result.views_dropped} behind the camera, dropped)" if result.views_dropped else ""
        self.get_logger().info(
            f"object {state.id} ({state.class_name}) rev {state.revision}: {len(result.mesh_world.faces)} triangles "
            f"from {state.views} views / {result.points} points{evidence}{dropped} in {total:.2f} s"
        )
        self.publish_object(state)

    # ---- outputs ----------------------------------------------------------------------
    def world_header(self, stamp=None) -> Header:
        return Header(stamp=stamp or self.get_clock().now().to_msg(), frame_id=self.params["world_frame"])

    def object_message(self, state: ObjectState) -> ReconstructedObject:
        stamp = state.result_stamp if state.result is not None and state.result_stamp is not None else state.stamp
        msg = ReconstructedObject(header=self.world_header(stamp), id=state.id, class_name=state.class_name,
                                  status=state.status, status_message=state.message, revision=state.revision,
                                  views_used=state.views)
        result = state.result
        if result is not None:
            if result.views_used or result.views_dropped:  # evidence path: the views whose evidence was fused
                msg.views_used = result.views_used
            msg.mesh = mesh_to_msg(result.mesh_object)
            msg.pose = matrix_to_pose(result.frame.pose)
            msg.scale = Vector3(x=float(result.frame.extents[0]), y=float(result.frame.extents[1]), z=float(result.frame.extents[2]))
            msg.points_used = result.points
            msg.watertight = result.watertight
            t = result.timings
            msg.timings = StageTimings(encode_s=t.get("encode_s", 0.0), extract_s=t.get("extract_s", 0.0),
                                       postprocess_s=t.get("postprocess_s", 0.0), total_s=state.last_total_s)
        return msg

    def publish_object(self, state: ObjectState) -> None:
        msg = self.object_message(state)
        result = state.result
        markers = [] if result is None else object_markers(
            msg.header, state.id, state.class_name, result.mesh_object, msg.pose, float(result.frame.extents[2]),
            f"{state.class_name} #{state.id} ({state.views} views)", self.params["marker_alpha"])
        with self.lock:
            state.msg, state.markers = msg, markers
        self.object_pub.publish(msg)
        self.publish_array()

    def publish_array(self) -> None:
        """objects/array and markers, each with every current object (markers: DELETEALL first)."""
        with self.publish_lock:  # the worker and the executor publish: a newer snapshot never goes out first
            with self.lock:
                states = list(self.objects.values())
                messages = [s.msg for s in states if s.msg is not None]
                markers = [s.markers for s in states]
            header = self.world_header()
            self.array_pub.publish(ReconstructedObjectArray(header=header, objects=messages))
            self.marker_pub.publish(full_array(header, markers))

    def diagnostic_counts(self) -> dict[str, int]:
        """Lifetime counts: objects, reconstructions, failures, dropped requests, queued, views dropped
        by reason, callback failures by reason (``<callback>_<ExceptionType>``)."""
        with self.lock:
            counts = {"objects": len(self.objects), "reconstructions": self.reconstructions, "failed": self.failures,
                      "dropped_requests": self.dropped_requests, "queued": len(self.queue),
                      **{f"views_dropped_{k}": v for k, v in sorted(self.views_dropped.items())}}
        counts.update(sorted(self.boundary.snapshot().items()))
        return counts

    def diagnostic_status(self) -> DiagnosticStatus:
        """Level from the last WINDOW_S seconds: WARN when more than WARN_FRACTION of the
        reconstructions failed or were dropped (queue full), or of the views were dropped, or when a
        callback failed; ERROR when every one attempted in a whole window failed (or every view was
        dropped)."""
        values = self.diagnostic_counts()
        with self.lock:
            dropped_views = sum(self.views_dropped.values())
            done = {"succeeded": self.reconstructions, "failed": self.failures, "dropped": self.dropped_requests}
            views = {"received": self.views_received, "kept": max(0, self.views_received - dropped_views), "dropped": dropped_views}
        now = time.monotonic()
        recent = self.recent.update(now, {**done, "attempted": done["succeeded"] + done["failed"],
                                          "callback_failures": self.boundary.total()})
        faults = (WARN, f"{recent['callback_failures']} callback failures in the last {recent.seconds:.0f} s") \
            if recent["callback_failures"] else (OK, "")
        level, why = worst(rate_level(recent, "attempted", "succeeded", ("failed", "dropped"), "reconstructions"),
                           rate_level(self.recent_views.update(now, views), "received", "kept", ("dropped",), "views"), faults)
        message = (f"{values['objects']} objects, {values['reconstructions']} reconstructions, {dropped_views} views dropped, "
                   f"evidence {'on' if self.params['use_evidence'] else 'off'}" + (f"; {why}" if why else ""))
        status = DiagnosticStatus(name=f"{self.get_name()}: reconstruction", hardware_id="occnet_ros", level=bytes([level]), message=message)
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items() if v or k in ("objects", "reconstructions")]
        return status

    @boundary("diagnostics")
    def publish_diagnostics(self) -> None:
        if not self.context.ok():  # a last timer tick while the runner shuts down
            return
        self.diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[self.diagnostic_status()]))

    # ---- services ---------------------------------------------------------------------
    @boundary("reconstruct", service=True)
    def on_reconstruct(self, request, response):
        ids = list(request.ids) or list(self.objects)
        response.queued_ids = [i for i in ids if self.enqueue(i)]
        missing = sorted(set(ids) - set(response.queued_ids))
        response.success = not missing
        response.message = f"queued {len(response.queued_ids)}" + (f"; unknown ids {missing}" if missing else "")
        return response

    @boundary("save_meshes", service=True)
    def on_save(self, request, response):
        fmt = request.format or "ply"
        if fmt not in MESH_FORMATS:
            response.success, response.message = False, f"format must be one of {MESH_FORMATS}"
            return response
        directory = Path(request.directory or self.params["save_directory"]).expanduser()
        with self.lock:
            chosen = [s for s in self.objects.values() if s.result is not None and (not request.ids or s.id in request.ids)]
            unknown = sorted(set(request.ids) - set(self.objects))
        try:
            for state in chosen:
                mesh: trimesh.Trimesh = state.result.mesh_world
                path = save_mesh_atomic(mesh, path_inside(directory, mesh_file_name(state.id, state.class_name, fmt)))
                response.files.append(str(path))
        except (OSError, ValueError) as error:
            response.success, response.message = False, f"cannot write to {directory}: {error}"
            return response
        response.success = not unknown
        response.message = f"saved {len(response.files)} meshes to {directory}" + (f"; unknown ids {unknown}" if unknown else "")
        return response

    @boundary("list_objects", service=True)
    def on_list(self, request, response):
        with self.lock:
            for s in self.objects.values():
                response.objects.append(ObjectSummary(id=s.id, class_name=s.class_name, status=s.status, revision=s.revision,
                                                      views=s.views, points=len(s.points), last_seen=s.stamp,
                                                      last_total_s=float(s.last_total_s)))
        return response

    def close(self) -> None:
        """Stop the worker: a reconstruction in progress is cancelled at its next batch of queries
        and the thread joined, so the process never exits while torch runs on it (that aborted
        with 'terminate called without an active exception' under SIGINT on a loaded machine)."""
        with self.wakeup:
            self.running = False
            self.wakeup.notify_all()
        reconstructor = getattr(self.pipeline, "reconstructor", None)
        if reconstructor is not None and hasattr(reconstructor, "cancel"):
            reconstructor.cancel.set()
        self.worker.join(timeout=CLOSE_TIMEOUT_S)
        if self.worker.is_alive():
            self.get_logger().warning(f"the reconstruction worker did not stop within {CLOSE_TIMEOUT_S:.0f} s")


def main(args: list[str] | None = None) -> int:
    return run_node(ReconstructionNode, args)
