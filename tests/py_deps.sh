#!/usr/bin/env bash
# Installs the Python packages that the reference checks read cada's output with, into
# $CADA_CACHE/python (default .cache/python, ignored by git), which the tests put on
# PYTHONPATH. Two groups, each installed only when its probe fails, pinned, --no-deps
# (what their imports need, nothing else):
#   - TensorBoard's event reader (tests/ref/check_tb_events.py): about 16 MB, not
#     TensorBoard's web server;
#   - transformers' AutoTokenizer and tokenizers (tests/ref/check_tokenizer_export.py):
#     about 160 MB, without torch (tokenizers alone need no model code).
# numpy, pyyaml, regex, typing_extensions and jinja2 (chat templates) only when python3
# lacks them. Idempotent: quiet when everything imports already.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${CADA_CACHE:-$root/.cache}/python"
has() { PYTHONPATH="$dest${PYTHONPATH:+:$PYTHONPATH}" python3 -c "$1" 2>/dev/null; }

# install PROBE PACKAGE==VERSION...: pip-installs the packages when PROBE does not run,
# then requires it to run.
install() {
  local probe="$1"; shift
  has "$probe" && return 0
  local pkgs=("$@")
  has "import numpy" || pkgs+=(numpy==2.4.6)
  echo "py-deps: installing ${pkgs[*]} into $dest"
  mkdir -p "$dest"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --upgrade \
    --target "$dest" "${pkgs[@]}"
  TRANSFORMERS_VERBOSITY=error PYTHONPATH="$dest${PYTHONPATH:+:$PYTHONPATH}" python3 -c "$probe"
}

install "from tensorboard.backend.event_processing import event_accumulator" \
  tensorboard==2.21.0 protobuf==7.36.2 absl-py==2.5.1

# What `from transformers import AutoTokenizer` and loading a local tokenizer.json import
# (huggingface_hub's HTTP client included, though nothing is downloaded; safetensors
# because transformers checks its version on import).
tok=(transformers==5.24.0 tokenizers==0.23.3 huggingface_hub==2.4.0 packaging==26.4 tqdm==4.70.1 filelock==4.3.2
     safetensors==0.8.0 httpx2==2.17.0 httpcore2==2.17.0 anyio==4.16.0 idna==3.21 truststore==0.10.5 h11==0.16.0)
has "import yaml" || tok+=(pyyaml==6.0.4)
has "import regex" || tok+=(regex==2026.12.2)
has "import typing_extensions" || tok+=(typing_extensions==4.16.0)
has "import jinja2" || tok+=(jinja2==3.1.6 markupsafe==3.0.3)
install "import tokenizers, transformers; from transformers import AutoTokenizer" "${tok[@]}"
