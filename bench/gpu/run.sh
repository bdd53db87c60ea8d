#!/usr/bin/env bash
# On the GPU machine, in the folder bench/gpu/pack.mjs wrote: unpacks the payload once, then for each trainer
# packed (the seed GAN, sngan_resnet at the spec's own size) trains it on webgpu (Dawn on the machine's Vulkan
# driver), runs the same model in PyTorch on CUDA, and prints ms and kernels per iteration of both. Needs xz and
# Python 3 with torch; no Node.js, no network.
#
#   bash run.sh [steps]      # default 40 webgpu iterations; PyTorch 30 after 5 (sngan_resnet 10 after 2)
#
# PYTHON (default python3) picks the interpreter, MODELS some of the trainers (MODELS=gan), TRAINER_ARGS adds
# flags to the trainers' command (a smoke test on a machine without a GPU: MODELS=gan TRAINER_ARGS="--batch 4").
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

DEVICE=cuda
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null || DEVICE=cpu

for trainer in trainer-*.mjs; do
  name="${trainer#trainer-}"; name="${name%.mjs}"
  case " ${MODELS:-$name} " in *" $name "*) ;; *) continue ;; esac
  echo "== $name"
  # webgpu: --log-every 1 reads the losses back every iteration, so each logged elapsed time covers the GPU's work
  ./node "$trainer" --backend webgpu --steps "$STEPS" --log-every 1 --sample-every 1000000 --checkpoint-every 1000000 \
    --out "runs/$name" --fresh --stats "stats-$name.json" --stats-iteration "$((STEPS - 1))" ${TRAINER_ARGS:-} 2>&1 | grep -v "^step " | tail -5
  case "$name" in
    gan) "$PYTHON" pytorch/seed_gan.py --device "$DEVICE" --iters 30 --warmup 5 --threads "$(nproc)" --count-kernels > "pytorch-$name.txt" ;;
    # the spec's own size: batch 64, G 256 and D 128 channels
    sngan_resnet) "$PYTHON" pytorch/sngan_resnet.py --device "$DEVICE" --batch 64 --width 1 --iters 10 --warmup 2 --threads "$(nproc)" --count-kernels > "pytorch-$name.txt" ;;
  esac || echo "run.sh: the PyTorch script for $name failed"
  ./node summary.mjs "runs/$name/metrics.jsonl" "stats-$name.json" "pytorch-$name.txt"
done
