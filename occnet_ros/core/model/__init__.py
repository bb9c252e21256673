"""occnet_ros.core.model."""
