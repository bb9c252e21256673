"""occnet_ros: Occupancy-Network shape completion for ROS 2.

Every stage outside ``occnet_ros.nodes`` (geometry, shapes, model, observe, complete, learn,
evaluate, sim, bags, bridge, cli) needs no ROS;
``occnet_ros.msg`` / ``occnet_ros.srv`` exist once the package is built with colcon.
"""

__version__ = "0.1.0"
