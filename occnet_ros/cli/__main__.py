"""`python -m occnet_ros.cli`: the same as the `occnet` command."""

import sys

from occnet_ros.cli.main import main

sys.exit(main())
