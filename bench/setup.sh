#!/bin/sh
# Installs what the PyTorch rows of the benchmark need (Debian 12, as root):
# PyTorch for the system python3, and the OpenMP build of OpenBLAS, which the PyTorch scripts put
# first on LD_LIBRARY_PATH (Debian's default reference BLAS is about 17x slower).
set -eu
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root (apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-torch libopenblas0-openmp
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__)'
ls -d /usr/lib/x86_64-linux-gnu/openblas-openmp/
