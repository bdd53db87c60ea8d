#!/usr/bin/env bash
# On the GPU machine, in the folder bench/gpu/pack.mjs wrote: unpacks the payload once, trains the seed GAN's
# compiled trainer on webgpu (Dawn on the machine's Vulkan driver), runs the same model in PyTorch on CUDA, and
# prints ms and kernels per iteration of both. Needs xz, Python 3 with torch; no Node.js, no network.
#
#   bash run.sh [steps]      # default 40 webgpu iterations, 30 timed PyTorch iterations after 5
#
# PYTHON (default python3) picks the interpreter; TRAINER_ARGS adds flags to the trainer's command (a smoke test
# on a machine without a GPU: TRAINER_ARGS="--batch 4").
set -uo pipefail
PYTHON="${PYTHON:-python3}"
cd "$(dirname "$0")"
STEPS="${1:-40}"
if [ ! -x work/node ]; then
  mkdir -p work && tar -xJf payload.tar.xz -C work || { echo "run.sh: could not unpack payload.tar.xz"; exit 1; }
fi
cd work
export LD_LIBRARY_PATH="$PWD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-(unset: the Vulkan loader searches its default places)}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# webgpu: --log-every 1 reads the losses back every iteration, so each logged elapsed time covers the GPU's work
./node trainer-gan.mjs --backend webgpu --steps "$STEPS" --log-every 1 --sample-every 1000000 --checkpoint-every 1000000 \
  --out runs/gan --fresh --stats stats-gan.json --stats-iteration "$((STEPS - 1))" ${TRAINER_ARGS:-} 2>&1 | grep -v "^step " | tail -5

DEVICE=cuda
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null || DEVICE=cpu
"$PYTHON" pytorch/seed_gan.py --device "$DEVICE" --iters 30 --warmup 5 --threads "$(nproc)" --count-kernels > pytorch-gan.txt || echo "run.sh: the PyTorch script failed"

./node summary.mjs runs/gan/metrics.jsonl stats-gan.json pytorch-gan.txt
