"""occnet_ros.core."""
