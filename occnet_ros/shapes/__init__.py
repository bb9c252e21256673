"""occnet_ros.shapes: The procedural shape generator: primitives, one file per family, the catalog and its split seeds."""
