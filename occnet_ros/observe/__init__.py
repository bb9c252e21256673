"""occnet_ros.observe: Depth frame -> instances -> per-object views and clouds; stamp matching; the TF buffer."""
