"""occnet_ros.bags: rosbag2 recordings without ROS: the typestore, the reader and the simulator recorder."""
