#!/usr/bin/env bash
# The interpreters learners have, beyond the one `./dev test` just ran the whole suite on. Run by
# `./dev test` after the main run (so by CI); alone: scripts/other-pythons.sh [debian|py3.10|py3.12|py3.13]...
#
#   debian  Debian's own /usr/bin/python3 (3.11.2 on Debian 12, what `./dev lab` picks there): the tests
#           that touch sockets and processes (fault proxy, workers, widgets, broker) and notebooks 01
#           and 03 top to bottom, in .venv-debian with the full test extra.
#   py3.10  Python 3.10 (Ubuntu 22.04's python3), which the course does not support (nbgrader 0.9.6 and
#           matplotlib 3.11 need 3.11): `./dev` must refuse it in one line, and the fault proxy, whose
#           bug showed there first, must still forward every byte (.venv-py3.10 holds only what that
#           test imports).
#   py3.12, py3.13  the course installs and every room imports.
#
# Each runs in its own venv beside .venv. An interpreter that is not on this machine is named in one
# line and its run skipped; a run that fails makes this script fail. Each run prints its duration.
set -uo pipefail
cd "$(dirname "$0")/.."

PIP=(-m pip install -q --disable-pip-version-check)
SOCKET_AND_PROCESS_TESTS=(tests/test_proxy_early_bytes.py tests/test_chaos.py tests/test_workers.py
                          tests/test_widgets.py tests/test_broker_errors.py tests/test_bad_input.py
                          tests/test_cluster.py  # the cluster's relay is asyncio too, like the fault proxy
                          tests/test_revocation_check.py tests/test_fresh_broker.py)  # a learner's group member as a worker
# Not repeated here: the broker-crash button (a JVM kill, the same on every Python; its read right
# after the restart is load-sensitive and already runs in the main suite).
NOT_HERE="not broker_crash_button"
failed=()

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

pin() {  # the exact requirement pyproject.toml pins for a package, e.g. `pin pytest` -> pytest==9.2.0
  grep -o "\"$1==[^\"]*\"" pyproject.toml | head -1 | tr -d '"'
}

find_interpreter() {  # python3.X on PATH (pyenv shims included) or in pyenv's versions, newest first
  local version="$1" candidate
  for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    if "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" 2>/dev/null; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

fresh_venv() {  # fresh_venv INTERPRETER DIR: make DIR with INTERPRETER unless it already has that one
  local interpreter="$1" dir="$2"
  if [ -x "$dir/bin/python" ] && [ "$("$dir/bin/python" -c 'import sys; print(sys.version)')" = \
       "$("$interpreter" -c 'import sys; print(sys.version)')" ]; then return 0; fi
  rm -rf "$dir" && "$interpreter" -m venv "$dir"
}

timed() {  # timed NAME COMMAND...: run, print how long it took, remember a failure
  local name="$1" started=$SECONDS
  shift
  if "$@"; then
    echo "other-pythons: $name passed in $((SECONDS - started)) s"
  else
    echo "other-pythons: $name FAILED after $((SECONDS - started)) s"
    failed+=("$name")
  fi
}

run_debian() {
  local python=/usr/bin/python3
  if [ ! -f /etc/debian_version ] || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "other-pythons: no Debian python3 with venv here (/usr/bin/python3 on Debian/Ubuntu, package python3-venv); its run is skipped"
    return
  fi
  say "Debian's own $("$python" --version 2>&1) (/usr/bin/python3): socket and process tests, notebooks 01 and 03"
  debian_tests() {
    fresh_venv "$python" .venv-debian && .venv-debian/bin/python "${PIP[@]}" -e ".[test]" &&
      .venv-debian/bin/python -m pytest -q -n 2 -p no:cacheprovider "${SOCKET_AND_PROCESS_TESTS[@]}" \
        tests/test_notebooks_nbval.py -k "(not test_notebooks_nbval or 01-delivery or 03-idempotent-producer) and $NOT_HERE"
  }
  timed "Debian python3" debian_tests
}

run_py310() {
  local python
  if ! python=$(find_interpreter 3.10); then
    echo "other-pythons: no Python 3.10 here (python3.10 on PATH or in pyenv); its run is skipped"
    return
  fi
  say "Python $("$python" --version 2>&1 | cut -d' ' -f2) ($python): ./dev refuses it; the fault proxy forwards every byte"
  py310_checks() {
    local refusal
    refusal=$(PYTHON="$python" EOSLAB_VENV=.venv-py3.10-refused ./dev lab 2>&1 >/dev/null) && {
      echo "./dev lab accepted $python"; return 1; }
    echo "$refusal" | grep -q "needs Python 3.11" || { echo "./dev lab did not say why: $refusal"; return 1; }
    # The package says >=3.11; only the proxy's own imports are installed to test it here.
    fresh_venv "$python" .venv-py3.10 &&
      .venv-py3.10/bin/python "${PIP[@]}" "$(pin confluent-kafka)" "$(pin psutil)" "$(pin pytest)" "$(pin pytest-timeout)" &&
      .venv-py3.10/bin/python "${PIP[@]}" --ignore-requires-python --no-deps -e . &&
      .venv-py3.10/bin/python -m pytest -q -p no:cacheprovider -p no:xdist tests/test_proxy_early_bytes.py
  }
  timed "Python 3.10" py310_checks
}

run_installs() {
  local version="$1" python
  if ! python=$(find_interpreter "$version"); then
    echo "other-pythons: no Python $version here (python$version on PATH or in pyenv); its run is skipped"
    return
  fi
  say "Python $("$python" --version 2>&1 | cut -d' ' -f2) ($python): the course installs and every room imports"
  install_and_import() {
    fresh_venv "$python" ".venv-py$version" && ".venv-py$version/bin/python" "${PIP[@]}" -e . &&
      ".venv-py$version/bin/python" -c "import eoslab.broker, eoslab.kafka, eoslab.chaos, eoslab.workers, \
eoslab.observe, eoslab.lessons, eoslab.grading, eoslab.widgets, eoslab.cli.main, nbgrader, jupyterlab, matplotlib; \
print('eoslab imports on', __import__('sys').version.split()[0])"
  }
  timed "Python $version" install_and_import
}

started=$SECONDS
runs=("$@")
[ ${#runs[@]} = 0 ] && runs=(debian py3.10 py3.12 py3.13)
for run in "${runs[@]}"; do
  case "$run" in
    debian) run_debian ;;
    py3.10) run_py310 ;;
    py3.12) run_installs 3.12 ;;
    py3.13) run_installs 3.13 ;;
    *) echo "other-pythons: unknown run $run (debian, py3.10, py3.12, py3.13)" >&2; exit 2 ;;
  esac
done
echo "other-pythons: ${#runs[@]} runs in $((SECONDS - started)) s${failed[*]:+; failed: ${failed[*]}}"
[ ${#failed[@]} = 0 ]
