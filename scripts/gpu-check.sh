#!/usr/bin/env bash
# The A-net on a GPU machine: builds the torch-only configuration against the CUDA LibTorch of the
# machine's PyTorch, then runs tests/bench/anet_gpu_check (CUDA vs CPU agreement, throughput).
# Needs: python3 with torch (CUDA) and h5py, cmake, ninja, nvcc; nothing from Debian. CUDA_ARCHS /
# TORCH_CUDA_ARCH_LIST: the GPU architecture (default: this GPU's, from nvidia-smi).
#   bash scripts/gpu-check.sh OUT_DIR [INPUT_DIR]
# INPUT_DIR holds input.txt/input.bin from `anet_bench export-input 1024 DIR` (made on a machine
# with the full build; the GPU machine has no simulator build). Results: OUT_DIR/results.csv,
# OUT_DIR/out_*.f32 (1024^2 reconstructions; compare them with `anet_bench compare`), log.txt.
set -euo pipefail
out=${1:?usage: gpu-check.sh OUT_DIR [INPUT_DIR]}
input=${2:-.gpucheck}
mkdir -p "$out"
# Paths as given, then from the repository root (cmake -S ., tests/bench/...).
out=$(cd "$out" && pwd)
[[ $input == /* ]] || input=$PWD/$input
cd "$(dirname "$0")/.."
exec > >(tee "$out/log.txt") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
# This GPU's architecture (9.0 on an H100 or H200, 8.0 on an A100), unless given.
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -n1 || true)
cap=${cap:-9.0}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$cap}
cuda_archs=${CUDA_ARCHS:-${cap//./}}
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
t0=$SECONDS
gen=$(command -v ninja > /dev/null && echo Ninja || echo "Unix Makefiles")
echo "cores: $(nproc); generator: $gen"
cmake -S . -B build-gpu -G "$gen" -DCMAKE_BUILD_TYPE=Release -DANNAMOSAIC_TORCH_ONLY=ON -DANNAMOSAIC_WITH_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$cuda_archs" > build-gpu.cmake.log 2>&1 \
  || { tail -n 60 build-gpu.cmake.log; exit 1; }
cmake --build build-gpu -j "$(nproc)" > build-gpu.build.log 2>&1 || { grep -B2 -A8 -E "error|FAILED" build-gpu.build.log | head -n 120; exit 1; }
echo "configure + build: $((SECONDS - t0)) s; compiler warnings: $(grep -c 'warning:' build-gpu.build.log || true)"
grep -m 5 'warning:' build-gpu.build.log || true
python3 tests/bench/model_to_raw.py models/anet-microtubules-ngf16.h5 build-gpu/weights
build-gpu/anet_gpu_check --weights build-gpu/weights --input "$input" --out "$out" "${@:3}"
