"""occnet_ros.cli: The `occnet` command line: one module per command family (nothing else imports it)."""
