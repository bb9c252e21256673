"""occnet_ros: Occupancy-Network shape completion for ROS 2.

The pure core (``occnet_ros.core``, ``occnet_ros.bridge``, ``occnet_ros.sim``) needs no ROS;
``occnet_ros.msg`` / ``occnet_ros.srv`` exist once the package is built with colcon.
"""

__version__ = "0.1.0"
