# mairl workspace: venv, tests, demo, benchmark.
#
# The venv is (re)built when requirements.txt or a package's setup.py changes; the
# stamp file .venv/.installed records a finished install. torch goes in first and
# pinned: a plain `torch` requirement resolves to a multi-GB CUDA build.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
VENV := .venv
VENV_STAMP := $(VENV)/.installed
PIP := $(VENV)/bin/pip --quiet --quiet
SETUP_FILES := src/mairl_core/setup.py src/mairl_ros/setup.py src/ur5_bringup/setup.py

.PHONY: venv check test demo bench-gridworld bench-ur5 experts bench-mujoco clean distclean

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt $(SETUP_FILES)
	@echo "==> creating $(VENV) (torch==$(TORCH_VERSION) first, then requirements.txt)"
	rm -f $(VENV_STAMP)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==$(TORCH_VERSION)
	$(PIP) install -r requirements.txt
	$(PIP) install -e "src/mairl_core[ray]"
	$(PIP) install -e src/mairl_ros
	$(PIP) install -e src/ur5_bringup
	@touch $(VENV_STAMP)

# lint and format check (ruff.toml); .ci/run runs it before the tests
check: $(VENV_STAMP)
	$(VENV)/bin/ruff check src test bench/tools
	$(VENV)/bin/ruff format --check src test bench/tools

# the suite in three passes: the computing tests on TEST_WORKERS pytest-xdist workers (0: one
# process), then the ROS 2 tests (real nodes over DDS) on as many, a file per worker, then
# alone the two files whose assertions are on timing (stale joint states, one step per
# period): beside another worker's nodes on 2 cores their sim's joint states come late
TEST_WORKERS ?= 2
PYTEST = $(VENV)/bin/python -m pytest -q -rs -p no:cacheprovider --timeout=600
TIMED = test/ros/test_faults.py test/ros/test_nodes.py
test: $(VENV_STAMP)
	$(PYTEST) -n $(TEST_WORKERS) --dist worksteal --durations=15 test/core test/workspace test/ray
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile --durations=10 test/ros $(TIMED:%=--deselect %)
	$(PYTEST) --durations=5 $(TIMED)

# the main job through ROS 2: record demos over the topics, train MAIRL, evaluate via
# policy server + safety + sim node (`mairl demo` runs the same pipeline in-process)
demo: $(VENV_STAMP)
	$(VENV)/bin/mairl-ros-demo

bench-gridworld: $(VENV_STAMP)
	$(VENV)/bin/mairl bench gridworld --out bench/results/gridworld

# UR5 in sim (about 4.5 hours on 2 cores): Table III for reach from scratch (reach_table3: no
# BC term, SVG learner) and its rewards' transfer to both changed robots (payload; softer
# servos + payload); with the BC term (reach_train, ur5-reach-bc): Table III for reach and
# grasp, the reward-transfer source run (reach_transfer: + the explorer), transfer to both
# changed robots, and the demo-count sweep (5 and 10 demos)
bench-ur5: $(VENV_STAMP)
	$(VENV)/bin/mairl bench ur5 --task reach --out bench/results/ur5-reach \
	  --publish bench/checkpoints
	for e in ur5_reach_changed:ur5-reach-table3-transfer ur5_reach_soft:ur5-reach-table3-transfer-soft; do \
	  $(VENV)/bin/mairl bench transfer --task reach --config reach_transfer --env-config $${e%%:*} \
	    --source bench/results/ur5-reach --out bench/results/$${e##*:} \
	    --rows 'Expert,BC moved,MAIRL moved,MAIRL reward,GAIL reward,True reward'; done
	$(VENV)/bin/mairl bench ur5 --task reach --config reach_train --out bench/results/ur5-reach-bc
	$(VENV)/bin/mairl bench ur5 --task reach --config reach_transfer --demos bench/results/ur5-reach-bc/demos \
	  --out bench/results/ur5-reach-explorer-gpgoal
	for e in ur5_reach_changed:ur5-reach-transfer-explorer-gpgoal ur5_reach_soft:ur5-reach-transfer-soft; do \
	  $(VENV)/bin/mairl bench transfer --task reach --config reach_transfer --env-config $${e%%:*} \
	    --source bench/results/ur5-reach-explorer-gpgoal --out bench/results/$${e##*:} \
	    --rows 'Expert,BC moved,MAIRL moved,MAIRL(s) moved,MAIRL reward,MAIRL(s) reward,True reward'; done
	for e in ur5_reach_changed:ur5-reach-transfer ur5_reach_soft:ur5-reach-transfer-table3-soft; do \
	  $(VENV)/bin/mairl bench transfer --task reach --config reach_train --env-config $${e%%:*} \
	    --source bench/results/ur5-reach-bc \
	    --out bench/results/$${e##*:} --rows 'BC moved,MAIRL moved,MAIRL reward,GAIL reward'; done
	$(VENV)/bin/mairl bench ur5 --task grasp --out bench/results/ur5-grasp --publish bench/checkpoints
	for n in 5 10; do $(VENV)/bin/mairl bench ur5 --task reach --config reach_train --n-demos $$n \
	  --methods BC,GAIL,MAIRL \
	  --demos bench/results/ur5-reach-bc/demos --out bench/results/ur5-reach-demos$$n; done

# Table II (issue 5), with imitation's GAIL and AIRL as peer rows (their own venv, .peer-venv,
# built on first use). The SAC experts and their 50 demos are committed (bench/experts,
# bench/demos); `make experts` regenerates them (300k SAC steps: about an hour per env on one core)
experts: $(VENV_STAMP)
	for e in HalfCheetah-v5 Ant-v5; do \
	  $(VENV)/bin/mairl expert train --env $$e --out bench/experts/$$e && \
	  $(VENV)/bin/mairl expert demos --env $$e --expert bench/experts/$$e --n 50 --out bench/demos/$$e.npz; done

bench-mujoco: $(VENV_STAMP)
	for e in HalfCheetah-v5 Ant-v5; do \
	  $(VENV)/bin/mairl bench mujoco --env $$e --peer imitation --out bench/results/mujoco-$$e; done
	$(VENV)/bin/mairl bench dynamics --out bench/results/dynamics

clean:
	rm -rf build install log runs .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o \
		\( -name __pycache__ -o -name '*.egg-info' \) -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) .peer-venv
