#!/usr/bin/env bash
# Enable nbgrader's JupyterLab tools for one role (nbgrader 0.9.6, JupyterLab 4.6).
#
#   scripts/setup-nbgrader-extensions.sh learner      # assignment list + Validate; formgrader and
#                                                     # Create Assignment disabled AND locked
#   scripts/setup-nbgrader-extensions.sh instructor   # everything enabled and unlocked
#
# nbgrader 0.9 ships one lab extension (@jupyter/nbgrader) whose parts are separate plugins, and
# four server extensions; both are switched per plugin here. The same step sets up what JupyterLab
# shows (see lab_view below): notebooks that open without the unsaved dot, and for learners
# nbgrader_config.py hidden, no "Jupyter news?" pop-up. Settings go to the environment
# (--sys-prefix) by default, so they travel with the venv / Docker image / Binder image.
# EOSLAB_JUPYTER_LEVEL=user writes to JUPYTER_CONFIG_DIR instead (the tests use a temporary one).
# Re-running is harmless. Environment: VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

ROLE="${1:-learner}"
VENV="${VENV:-.venv}"
LEVEL="${EOSLAB_JUPYTER_LEVEL:-sys_prefix}"
JUPYTER="$VENV/bin/jupyter"
[ -x "$JUPYTER" ] || JUPYTER="$(command -v jupyter)" || { echo "setup-nbgrader-extensions: no jupyter found; install the course first" >&2; exit 1; }

case "$LEVEL" in
  sys_prefix) SERVER_CONFIG_DIR="$VENV/etc/jupyter" ;;
  user) SERVER_CONFIG_DIR="${JUPYTER_CONFIG_DIR:-$HOME/.jupyter}" ;;
  *) echo "setup-nbgrader-extensions: EOSLAB_JUPYTER_LEVEL must be sys_prefix or user" >&2; exit 2 ;;
esac

# Each jupyter call costs seconds (about 90 s in all on 2 cores): skip when this role is already set.
STAMP="$SERVER_CONFIG_DIR/.eoslab-nbgrader-role"
SETUP_VERSION=2  # bump when this script sets up something new, so existing environments get it
if [ "$(cat "$STAMP" 2>/dev/null)" = "$ROLE v$SETUP_VERSION" ]; then
  echo "nbgrader extensions already set up for the $ROLE role ($LEVEL)."
  exit 0
fi

LEARNER_PLUGINS="@jupyter/nbgrader:assignment-list @jupyter/nbgrader:validate-assignment @jupyter/nbgrader:menu"
INSTRUCTOR_PLUGINS="@jupyter/nbgrader:formgrader @jupyter/nbgrader:create-assignment @jupyter/nbgrader:course-list"

quiet() { "$@" >/dev/null 2>&1 || { echo "setup-nbgrader-extensions: failed: $*" >&2; "$@"; }; }

# Each command takes several names at once: every jupyter start-up costs seconds.
quiet "$JUPYTER" labextension enable --level="$LEVEL" $LEARNER_PLUGINS

# Server extensions: written as one config.d file rather than with `jupyter server extension
# enable/disable`, whose validation step rejects nbgrader's modules under a user-level
# JUPYTER_CONFIG_DIR and then writes nothing. "zz-" sorts after nbgrader's own nbgrader.json.
server_switches() {  # $1: true/false for the instructor tools
  mkdir -p "$SERVER_CONFIG_DIR/jupyter_server_config.d"
  cat > "$SERVER_CONFIG_DIR/jupyter_server_config.d/zz-eoslab-nbgrader-role.json" <<JSON
{
  "ServerApp": {
    "jpserver_extensions": {
      "nbgrader.server_extensions.assignment_list": true,
      "nbgrader.server_extensions.validate_assignment": true,
      "nbgrader.server_extensions.formgrader": $1,
      "nbgrader.server_extensions.course_list": $1
    }
  }
}
JSON
}

# What JupyterLab shows. Both roles: eoslab's contents manager gives JupyterLab each notebook with
# the language_info its kernel will report, so opening one does not mark it unsaved
# (eoslab/grading/contents.py). Learners also: nbgrader_config.py hidden from the file browser
# (nbgrader's Assignment List and Validate read it from disk, so they keep working), and through
# the environment's settings overrides no news pop-up, no update check, room for file names, and no
# "Select Kernel" dialog (a notebook whose kernel was shut down starts the preferred one again, seen in CI).
lab_view() {  # $1: learner|instructor
  # jupyter_server reads traitlets settings from jupyter_server_config.json, not from its .d folder
  # (that one only switches extensions), so merge ours into that file, keeping whatever else it holds.
  local python="$VENV/bin/python"
  [ -x "$python" ] || python="$(command -v python3)"
  "$python" - "$SERVER_CONFIG_DIR/jupyter_server_config.json" "$1" <<'PYTHON'
import json, os, sys
path, role = sys.argv[1], sys.argv[2]
config = json.load(open(path)) if os.path.exists(path) else {}
config.setdefault("ServerApp", {})["contents_manager_class"] = "eoslab.grading.contents.CourseContentsManager"
manager = config.setdefault("ContentsManager", {})
if role == "learner":
    manager["hide_globs"] = ["__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "nbgrader_config.py"]
else:
    manager.pop("hide_globs", None)
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as out:
    json.dump(config, out, indent=2)
PYTHON
  [ "$LEVEL" = sys_prefix ] || return 0  # settings overrides live in the environment only
  local overrides="$VENV/share/jupyter/lab/settings/overrides.d"
  mkdir -p "$overrides"
  if [ "$1" = learner ]; then
    cat > "$overrides/eoslab-learner.json" <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false},
  "@jupyterlab/filebrowser-extension:browser": {"showLastModifiedColumn": false},
  "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": true}
}
JSON
  else
    rm -f "$overrides/eoslab-learner.json"
  fi
}

case "$ROLE" in
  learner)
    quiet "$JUPYTER" labextension unlock --level="$LEVEL" $INSTRUCTOR_PLUGINS
    quiet "$JUPYTER" labextension disable --level="$LEVEL" $INSTRUCTOR_PLUGINS
    quiet "$JUPYTER" labextension lock --level="$LEVEL" $INSTRUCTOR_PLUGINS  # the learner cannot switch them back on
    server_switches false
    lab_view learner
    ;;
  instructor)
    quiet "$JUPYTER" labextension unlock --level="$LEVEL" $INSTRUCTOR_PLUGINS
    quiet "$JUPYTER" labextension enable --level="$LEVEL" $INSTRUCTOR_PLUGINS
    server_switches true
    lab_view instructor
    ;;
  *) echo "usage: scripts/setup-nbgrader-extensions.sh learner|instructor" >&2; exit 2 ;;
esac
echo "$ROLE v$SETUP_VERSION" > "$STAMP"
echo "nbgrader extensions set up for the $ROLE role ($LEVEL)."
