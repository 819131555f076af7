#!/usr/bin/env bash
# CI stage "Colab versions" (issue 15): the kit tested against Google Colab's own package set.
#
# 1. .ci/colab-constraints.txt is current: made from ../shared/colab/pip-freeze.txt (Google's `pip freeze` of
#    the Colab CPU runtime) by `python -m labkit.authoring.colab_stage constraints`; its header lists every line
#    changed or dropped and why.
# 2. A second venv, build/colab-stage/venv, with those versions (pip 24.1.2, torch 2.11.0, numpy 2.1.3,
#    ipykernel 6.17.1, ipywidgets 7.7.1, ...) plus the kit's test tools Colab lacks (papermill, nbval, at
#    requirements.txt's pins). Python 3.11: Colab runs Python 3.13.15, which cannot be installed on these
#    machines (no Debian or PyPI package of it; the image's pyenv holds only a 3.13.0); COLAB_PYTHON=... picks
#    another interpreter.
# 3. The unit tests (tests/labhelpers, tests/test_python313.py) in that venv.
# 4. The release published with labkit.authoring.publish into a bare repository; every student notebook (from
#    its clone) and every solution notebook then runs whole in the simulated Colab (labkit.authoring.colab_sim:
#    stub google.colab, a fresh /content, the set-up cell's clone redirected to the bare repository, its pip
#    install offline from build/colab-stage/wheels), in smoke mode (SMOKE=True, DATA_SOURCE="offline",
#    RESULTS_DIR on the notebook's private /content). A student notebook must clone, install, run to the end
#    and fail only at its exercises (NotImplementedError); a solution must not fail at all; no install may
#    replace a preinstalled package.
# 5. What differs from the pinned run: the kit's packages, Colab venv vs .venv.
#
# Needs .venv (make setup). Exit 0 only when every step passed. Time on 2 quiet cores: see README.
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLBACKEND=Agg PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
PINNED=.venv/bin/python
COLAB_PYTHON=${COLAB_PYTHON:-python3.11}
STAGE=build/colab-stage
VENV=$STAGE/venv
start=$(date +%s)
step() { echo "== colab stage: $* (at $(( $(date +%s) - start )) s)"; }

test -x "$PINNED" || { echo "colab stage: $PINNED is missing; run make setup first"; exit 2; }
"$COLAB_PYTHON" -c 'import sys; print("colab stage: Python", sys.version.split()[0], "(Colab: 3.13.15)")'

step "constraints"
"$PINNED" -m labkit.authoring.colab_stage constraints --check
mapfile -t NEEDS < <("$PINNED" -m labkit.authoring.colab_stage needs)
mapfile -t ADDS < <("$PINNED" -m labkit.authoring.colab_stage needs --student-adds)

step "venv $VENV"
stamp=$(cat .ci/colab-constraints.txt <("$COLAB_PYTHON" -VV) <(printf '%s\n' "${NEEDS[@]}" "${ADDS[@]}") | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then   # a fresh clone always builds it
  rm -rf "$STAGE"
  "$COLAB_PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q -c .ci/colab-constraints.txt pip
  "$VENV/bin/python" -m pip install -q -c .ci/colab-constraints.txt "${NEEDS[@]}"
  # the offline student install's wheel folder: the build backend, and what Colab lacks (pip adds those there)
  mkdir -p "$STAGE/wheels"
  cp .venv/wheels/setuptools-*.whl "$STAGE/wheels/"
  "$VENV/bin/python" -m pip download -q --no-deps -d "$STAGE/wheels" "${ADDS[@]}"
  # the unit tests import those too: beside the repository on PYTHONPATH, never in the venv
  "$VENV/bin/python" -m pip install -q --no-deps --target "$STAGE/kit-extras" "$STAGE"/wheels/efficientnet*.whl
  echo "$stamp" > "$VENV/.stamp"
else
  echo "colab stage: $VENV is current (stamp $stamp), reused"
fi
"$VENV/bin/python" -m pip check || { echo "colab stage: the Colab venv's requirements are inconsistent"; exit 1; }
installed=$(( $(date +%s) - start ))

failed=()   # every step runs (a full log), the stage fails at the end if one did
step "unit tests in the Colab venv"
PYTHONPATH="$PWD:$PWD/$STAGE/kit-extras" "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  tests/labhelpers tests/test_python313.py || failed+=("unit tests")
tested=$(( $(date +%s) - start ))

step "every notebook in the simulated Colab"
"$PINNED" -m labkit.authoring.colab_stage notebooks "$VENV/bin/python" "$STAGE/wheels" "$STAGE/work" \
  || failed+=("notebooks in the simulated Colab")

step "what differs from the pinned run"
"$PINNED" -m labkit.authoring.colab_stage diff "$VENV/bin/python" "$PINNED" || failed+=("version report")
took="$(( $(date +%s) - start )) s (venv $installed s, unit tests $(( tested - installed )) s, notebooks and report \
$(( $(date +%s) - start - tested )) s)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "colab stage FAILED: ${failed[*]}; took $took"
  exit 1
fi
echo "colab stage passed in $took"
