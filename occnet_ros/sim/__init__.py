"""occnet_ros.sim."""
