#!/usr/bin/env bash
# Enable nbgrader's JupyterLab tools for one role (nbgrader 0.9.6, JupyterLab 4.6).
#
#   scripts/setup-nbgrader-extensions.sh learner      # assignment list + Validate; formgrader and
#                                                     # Create Assignment disabled AND locked
#   scripts/setup-nbgrader-extensions.sh instructor   # everything enabled and unlocked
#
# nbgrader 0.9 ships one lab extension (@jupyter/nbgrader) whose parts are separate plugins, and
# four server extensions; both are switched per plugin here. Settings go to the environment
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
if [ "$(cat "$STAMP" 2>/dev/null)" = "$ROLE" ]; then
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

case "$ROLE" in
  learner)
    quiet "$JUPYTER" labextension unlock --level="$LEVEL" $INSTRUCTOR_PLUGINS
    quiet "$JUPYTER" labextension disable --level="$LEVEL" $INSTRUCTOR_PLUGINS
    quiet "$JUPYTER" labextension lock --level="$LEVEL" $INSTRUCTOR_PLUGINS  # the learner cannot switch them back on
    server_switches false
    ;;
  instructor)
    quiet "$JUPYTER" labextension unlock --level="$LEVEL" $INSTRUCTOR_PLUGINS
    quiet "$JUPYTER" labextension enable --level="$LEVEL" $INSTRUCTOR_PLUGINS
    server_switches true
    ;;
  *) echo "usage: scripts/setup-nbgrader-extensions.sh learner|instructor" >&2; exit 2 ;;
esac
echo "$ROLE" > "$STAMP"
echo "nbgrader extensions set up for the $ROLE role ($LEVEL)."
