"""occnet_ros.complete: Shape completion: the reconstructor, MISE extraction, post-processing, object frames, the per-object pipeline."""
