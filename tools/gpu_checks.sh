#!/usr/bin/env bash
# The checks and benchmarks that need a CUDA GPU, as one script for a lent GPU machine (docs/BENCHMARKS.md).
# Run from the repository root; results go to $OUT (default /tmp/gpu-checks). Each step has its own time
# limit, so one that hangs or fails leaves the others' results. Most important first: the whole script
# stops within BUDGET seconds (default 470: under 8 minutes), each step cut to what is left.
set -u
BUDGET=${BUDGET:-470}
OUT=${OUT:-/tmp/gpu-checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
PY=${PY:-python3}
log=$OUT/gpu.log
step() {  # step SECONDS NAME COMMAND...: run with a time limit, output to the log and to $OUT/NAME.txt
    local limit=$1 name=$2 left=$((BUDGET - SECONDS))
    shift 2
    [ "$left" -lt 20 ] && { echo "== $name: skipped, the budget is spent" | tee -a "$log"; return; }
    [ "$limit" -gt "$left" ] && limit=$left
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
step 150 gpu-tests $PY -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_speed_switches.py
step 90 gpu-convert-tests $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_jpeg_codec.py tests/test_convert_speedups.py
# The step captured as a CUDA graph (--compile step) against eager and compiled, bare: the 4x lever.
# Channels-last with instance norm: slower on GPUs while the norm returned NCHW; it now keeps NHWC (measure).
step 200 bench-capture $bench --methods cyclegan --size 256 --batch-size 1 \
    --settings fp32,default,default+channels-last,default+bf16,default+bf16+compile,default+bf16+compile+channels-last,default+bf16+capture
# The whole CLI process against the bare step (issue 19: within 5%), CycleGAN and pix2pix at 256 px, batch 1.
# With .ref/cut (tools/gpu_prepare.sh), the reference code on the same data too (target: 4x its speed).
reference=$([ -f .ref/cut/train.py ] && echo "--reference .ref/cut")
step 240 bench-cli-capture $PY tools/bench_cli.py --methods cyclegan,pix2pix --size 256 --batch-size 1 --workers 4 \
    --precision bf16 --compile step --short 40 --long 240 $reference
step 150 bench-convert-bf16 $convert --precision bf16
# JPEG on the device (nvJPEG) against Pillow: JPEG output with each codec (issue 19 item 4).
step 90 bench-convert-jpeg $PY tools/bench_convert.py --count 600 --real-count 1000 --batch-size 32 --precision bf16 \
    --jpeg-codec pillow,torchvision --codecs-only
# Conversion's switches (their defaults are chosen from this table): encoder threads or processes, eager or
# compiled, after a warm-up that compiles each generator once (counts are multiples of 16).
step 180 bench-convert-switches $PY tools/bench_convert.py --count 512 --real-count 400 --batch-size 16 \
    --precision bf16 --generators near-free,real --encoders threads,processes --compile --switches-only
step 200 bench-cli $PY tools/bench_cli.py --methods cyclegan,pix2pix --size 256 --batch-size 1 --workers 4
step 100 bench-convert-fp32 $convert
step 60 bench-pix2pix $bench --methods pix2pix --pix2pix-size 256 --batch-size 1 --settings fp32,default,default+bf16
step 60 bench-srresnet $bench --methods srresnet --sr-size 96 --batch-size 16 --settings fp32,default,default+bf16
step 90 bench-memory-1024 $bench --steps 3 --warmup 1 --methods cyclegan --size 1024 --batch-size 1 \
    --settings fp32,default+checkpointing,default+bf16+checkpointing
echo "== done in $SECONDS s" | tee -a "$log"
