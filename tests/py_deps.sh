#!/usr/bin/env bash
# Installs the Python packages that the reference checks read cada's output with, into
# $CADA_CACHE/python (default .cache/python, ignored by git), which the tests put on
# PYTHONPATH: TensorBoard's event reader (tests/ref/check_tb_events.py). Only the
# packages that reader imports (about 16 MB; numpy only when python3 lacks it), not
# TensorBoard's web server. Idempotent: quiet when they import already.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${CADA_CACHE:-$root/.cache}/python"
probe="from tensorboard.backend.event_processing import event_accumulator"
if PYTHONPATH="$dest${PYTHONPATH:+:$PYTHONPATH}" python3 -c "$probe" 2>/dev/null; then exit 0; fi
pkgs=(tensorboard==2.21.0 protobuf==7.36.2 absl-py==2.5.1)
python3 -c "import numpy" 2>/dev/null || pkgs+=(numpy==2.4.6)
echo "py-deps: installing ${pkgs[*]} into $dest"
mkdir -p "$dest"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --upgrade \
  --target "$dest" "${pkgs[@]}"
PYTHONPATH="$dest${PYTHONPATH:+:$PYTHONPATH}" python3 -c "$probe"
