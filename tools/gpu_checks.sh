#!/usr/bin/env bash
# The checks and benchmarks that need a CUDA GPU, as one script for a lent GPU machine (docs/BENCHMARKS.md).
# Run from the repository root; results go to $OUT (default /tmp/gpu-checks). Each step has its own time
# limit, so one that hangs or fails leaves the others' results. Most important first.
set -u
OUT=${OUT:-/tmp/gpu-checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PY:-python3}
log=$OUT/gpu.log
step() {  # step SECONDS NAME COMMAND...: run with a time limit, output to the log and to $OUT/NAME.txt
    local limit=$1 name=$2
    shift 2
    echo "== $name ($limit s): $*" | tee -a "$log"
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local rc=$?
    tail -n 40 "$OUT/$name.txt" >>"$log"
    echo "== $name: exit $rc" | tee -a "$log"
}
# Packages the machine's image lacks, carried as wheels (tools/gpu_prepare.sh; carry .wheels and .ref).
[ -d .wheels ] && $PY -m pip install -q --no-index --no-deps .wheels/*.whl 2>&1 | tail -n 3 | tee -a "$log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$log"
$PY -c "import torch, accelerate; print('torch', torch.__version__, 'accelerate', accelerate.__version__)" | tee -a "$log"

bench="$PY tools/bench.py --steps 10 --warmup 3"
convert="$PY tools/bench_convert.py --count 600 --real-count 400 --batch-size 16 --breakdown"
step 200 bench-convert-bf16 $convert --precision bf16
step 200 bench-convert-fp32 $convert
# Conversion's switches (issue 19 item 4; their defaults are chosen from this table): encoder threads or
# processes, eager or compiled, after a warm-up that compiles each generator once (counts are multiples of 16).
step 180 bench-convert-switches $PY tools/bench_convert.py --count 512 --real-count 400 --batch-size 16 \
    --precision bf16 --generators near-free,real --encoders threads,processes --compile --switches-only
step 150 gpu-tests $PY -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_speed_switches.py
step 120 gpu-convert-tests $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_convert_speedups.py
# The whole CLI process against the bare step (issue 19: within 5%), CycleGAN and pix2pix at 256 px, batch 1.
# With .ref/cut (tools/gpu_prepare.sh), the reference code on the same data too (target: 4x its speed).
reference=$([ -f .ref/cut/train.py ] && echo "--reference .ref/cut")
step 300 bench-cli $PY tools/bench_cli.py --methods cyclegan,pix2pix --size 256 --batch-size 1 --workers 4 $reference
step 120 bench-cyclegan $bench --methods cyclegan --size 256 --batch-size 1 --settings fp32,batched,channels-last,fused-adam,default,default+bf16
step 60 bench-pix2pix $bench --methods pix2pix --pix2pix-size 256 --batch-size 1 --settings fp32,default,default+bf16
step 60 bench-srresnet $bench --methods srresnet --sr-size 96 --batch-size 16 --settings fp32,default,default+bf16
step 90 bench-memory-512 $bench --steps 3 --warmup 1 --methods cyclegan --size 512 --batch-size 1 --settings fp32,default,default+checkpointing
step 90 bench-memory-1024 $bench --steps 3 --warmup 1 --methods cyclegan --size 1024 --batch-size 1 --settings fp32,default+checkpointing,default+bf16+checkpointing
step 240 bench-compile $bench --methods cyclegan --size 256 --batch-size 1 --settings fp32,default+bf16,default+bf16+compile
