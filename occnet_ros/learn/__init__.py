"""occnet_ros.learn: Training: configs, records (views kept), sources, dataset, sampling, the train loop."""
