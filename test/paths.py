"""Paths shared by every test folder (no ROS)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
