"""occnet_ros.nodes: the ROS 2 side (the only rclpy importers): QoS, parameters, registry, runner, conversions, nodes."""
