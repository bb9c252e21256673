"""occnet_ros.bridge."""
