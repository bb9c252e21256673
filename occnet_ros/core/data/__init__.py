"""occnet_ros.core.data."""
