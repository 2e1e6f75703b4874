#!/usr/bin/env bash
# Prepare, on this machine, what tools/gpu_checks.sh needs on a bare GPU machine that reaches no network:
#   .wheels/  the project's dependencies that the GPU machine lacks (it has torch), as wheels
#   .ref/cut/ the reference code's Python files (taesungp/contrastive-unpaired-translation), for
#             tools/bench_cli.py --reference; pass its checkout (or a bare mirror) as $1.
# Both folders are git-ignored; name them in the device tool's `carry`. On the GPU machine:
#   pip install --no-index --find-links .wheels --no-deps albumentations albucore stringzilla simsimd \
#       pydantic pydantic-core annotated-types typing-inspection dominate av && bash tools/gpu_checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p .wheels
# What the GPU machine's image lacks (device/KINDS.md lists what it has: torch, accelerate, typer, rich,
# opencv, ...), for its Python (3.12), without dependencies (they are there), at this venv's versions.
wanted="albumentations albucore stringzilla simsimd pydantic pydantic-core annotated-types typing-inspection dominate av"
pins=$("$PY" -m pip freeze 2>/dev/null | grep -i -E "^($(echo $wanted | tr ' ' '|' | sed 's/-/[-_]/g'))==" || true)
"$PY" -m pip download -q -d .wheels --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" --no-deps $pins \
    $(for name in $wanted; do echo "$pins" | grep -qi "^${name//-/[-_]}==" || echo "$name"; done)
if [ $# -ge 1 ]; then
    reference=$1
    rm -rf .ref/cut && mkdir -p .ref/cut
    if [ -d "$reference/.git" ] || git -C "$reference" rev-parse --is-bare-repository >/dev/null 2>&1; then
        for f in $(git -C "$reference" ls-tree -r --name-only HEAD | grep -E '\.py$'); do
            mkdir -p ".ref/cut/$(dirname "$f")"
            git -C "$reference" show "HEAD:$f" >".ref/cut/$f"
        done
    else
        (cd "$reference" && find . -name '*.py' -exec cp --parents {} "$OLDPWD/.ref/cut/" \;)
    fi
fi
du -sh .wheels .ref 2>/dev/null || true
