"""HoloLens 2 simulator node: publishes depth, camera info, segmentation and the camera pose.

Topics: ``depth/image`` (16UC1 mm), ``depth/camera_info``, ``segmentation``, and TF
(world -> headset on /tf, headset -> depth optical on /tf_static) or ``camera_pose``
(pose_source: topic). The hl2ss cameras publish what hl2ss_bridge does: radial 16UC1 depth, the
ray table on ``depth/ray_table`` (latched 32FC2), and the headset pose in the y-up HoloLens world
(map -> hl2_world static). ``~/save_ground_truth`` writes the room's ground-truth meshes.
TF goes out as tf2_msgs/TFMessage directly: the same messages a tf2_ros broadcaster sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped, TransformStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from occnet_ros.geometry.files import MESH_FORMATS, save_mesh_atomic
from occnet_ros.geometry.hl2ss_frames import MAP_FROM_HL2_WORLD
from occnet_ros.msg import InstanceInfo, Segmentation
from occnet_ros.nodes import parameters, qos
from occnet_ros.nodes.camera_models import ray_table_to_image
from occnet_ros.nodes.common import declare_parameters, run_node
from occnet_ros.nodes.conversions import array_to_image, camera_info_from_intrinsics, matrix_to_pose, matrix_to_transform
from occnet_ros.sim.hololens import HEADSET_TO_OPTICAL, HoloLensSimulator, SimSettings
from occnet_ros.srv import SaveMeshes


class HoloLensSimNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("hololens_sim", **kwargs)
        self.params = declare_parameters(self, parameters.HOLOLENS_SIM)
        p = self.params
        self.sim = HoloLensSimulator(SimSettings(seed=p["seed"], num_objects=p["num_objects"], num_frames=max(p["num_frames"], 1) if p["num_frames"] else 48,
                                                 camera=p["camera"], rate_hz=p["rate_hz"], mask_errors=p["mask_errors"]))
        self.index = 0
        self.depth_pub = self.create_publisher(Image, "depth/image", qos.SENSOR)
        self.info_pub = self.create_publisher(CameraInfo, "depth/camera_info", qos.SENSOR)
        self.seg_pub = self.create_publisher(Segmentation, "segmentation", qos.SENSOR)
        self.tf_pub = self.create_publisher(TFMessage, "/tf", qos.TF)
        self.static_pub = self.create_publisher(TFMessage, "/tf_static", qos.SIM_TF_STATIC)
        self.pose_pub = self.create_publisher(PoseStamped, "camera_pose", qos.CAMERA_POSE)
        self.create_service(SaveMeshes, "~/save_ground_truth", self.on_save_ground_truth)
        self.ray_table_pub = self.create_publisher(Image, "depth/ray_table", qos.LATCHED) if self.sim.ray_camera is not None else None
        self.publish_static()
        self.timer = self.create_timer(1.0 / p["rate_hz"], self.tick)
        names = ", ".join(o.class_name for o in self.sim.room.objects)
        self.get_logger().info(f"simulating a HoloLens 2 {p['camera']} camera in a room with: {names}")

    @property
    def finished(self) -> bool:
        return self.params["num_frames"] > 0 and self.index >= self.params["num_frames"]

    def publish_static(self) -> None:
        t = TransformStamped(header=Header(frame_id=self.params["headset_frame"]), child_frame_id=self.params["depth_frame"])
        t.header.stamp = self.get_clock().now().to_msg()
        t.transform = matrix_to_transform(HEADSET_TO_OPTICAL)
        transforms = [t]
        if self.sim.ray_camera is not None:  # hl2ss: the headset pose is in a y-up world under map
            world = TransformStamped(header=Header(frame_id=self.params["world_frame"], stamp=t.header.stamp),
                                     child_frame_id=self.params["hl2_world_frame"])
            world.transform = matrix_to_transform(MAP_FROM_HL2_WORLD)
            transforms.append(world)
            self.ray_table_pub.publish(ray_table_to_image(self.sim.ray_camera.xy, Header(stamp=t.header.stamp, frame_id=self.params["depth_frame"])))
        self.static_pub.publish(TFMessage(transforms=transforms))

    def tick(self) -> None:
        if self.finished:
            self.timer.cancel()
            self.get_logger().info(f"trajectory finished after {self.index} frames")
            return
        frame = self.sim.frame(self.index)
        self.index += 1
        stamp: Time = self.get_clock().now().to_msg()
        p = self.params
        if p["pose_source"] == "tf":
            yup = frame.radial
            t = TransformStamped(header=Header(stamp=stamp, frame_id=p["hl2_world_frame"] if yup else p["world_frame"]),
                                 child_frame_id=p["headset_frame"])
            t.transform = matrix_to_transform(frame.headset_pose_yup if yup else frame.headset_pose)
            self.tf_pub.publish(TFMessage(transforms=[t]))
        else:
            self.pose_pub.publish(PoseStamped(header=Header(stamp=stamp, frame_id=p["world_frame"]), pose=matrix_to_pose(frame.camera_pose)))
        header = Header(stamp=stamp, frame_id=p["depth_frame"])
        seg = Segmentation(header=header, instance_image=array_to_image(frame.instance_ids, "16UC1", header))
        seg.instances = [InstanceInfo(id=i, class_name=c, score=s, transparent=tr) for i, c, s, tr in frame.instances]
        self.info_pub.publish(camera_info_from_intrinsics(self.sim.intrinsics, header))
        self.seg_pub.publish(seg)
        self.depth_pub.publish(array_to_image(frame.depth_mm, "16UC1", header))

    def on_save_ground_truth(self, request, response):
        fmt = request.format or "ply"
        if fmt not in MESH_FORMATS:
            response.success, response.message = False, f"format must be one of {MESH_FORMATS}"
            return response
        directory = Path(request.directory or "~/.ros/occnet_ground_truth").expanduser()
        for obj in self.sim.room.objects:
            if not request.ids or obj.id in request.ids:
                response.files.append(str(save_mesh_atomic(obj.mesh, directory / f"gt_{obj.id:03d}_{obj.class_name}.{fmt}")))
        response.success, response.message = True, f"saved {len(response.files)} ground-truth meshes"
        return response


def main(args: list[str] | None = None) -> int:
    return run_node(HoloLensSimNode, args)
