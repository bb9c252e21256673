"""occnet_ros.nodes."""
