"""After `make build` and `. install/setup.bash`, `occnet` runs as the README writes it."""

from __future__ import annotations

import os
import shutil
import subprocess


def test_occnet_command_is_on_path_from_the_install_tree(tmp_path):
    occnet = shutil.which("occnet")
    assert occnet, f"occnet not on PATH ({os.environ.get('PATH')})"
    assert os.path.join("occnet_ros", "bin", "occnet") in occnet  # install/occnet_ros/bin, put on PATH by setup.bash
    result = subprocess.run(["occnet", "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0 and "reconstruct" in result.stdout, result.stderr[-2000:]
