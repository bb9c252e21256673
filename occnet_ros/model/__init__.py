"""occnet_ros.model: the networks (encoders, decoders, OccNet and ConvONet), checkpoints and the device choice."""
