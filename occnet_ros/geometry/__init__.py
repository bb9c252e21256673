"""occnet_ros.geometry: Camera models, canonical frames, raycasting, point-cloud and mesh files (numpy, trimesh, open3d; no torch)."""
