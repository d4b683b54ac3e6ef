#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root): install what is missing, build, and run
# the whole default test suite. Also checks the sanitizer (ASan+UBSan) build of the libraries
# that do not link LibTorch, the permissive (LibTorch pocketfft) FFT backend, and the torch-only
# build that scripts/gpu-check.sh uses on GPU machines (its CPU half is run here).
# Heavy tests (ctest label "heavy") are not run here; see README.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
bash scripts/setup-debian.sh

echo "== sanitizer build (ASan + UBSan): core, tables, rendering, FFT, TIFF/PNG"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DANNAMOSAIC_SANITIZE=ON \
  -DANNAMOSAIC_WITH_TORCH=OFF -DANNAMOSAIC_BUILD_BENCHMARKS=OFF >/dev/null
asan_tests=(test_core test_loc test_render test_fft test_imageio)
cmake --build build-asan -j"$jobs" --target "${asan_tests[@]}"
for t in "${asan_tests[@]}"; do
  exe=$(find build-asan/tests -type f -name "$t" -perm -u+x | head -n 1)
  echo "-- $exe"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$exe" --gtest_brief=1
done

echo "== permissive FFT backend (LibTorch pocketfft)"
cmake -S . -B build-fft-torch -DCMAKE_BUILD_TYPE=Release -DANNAMOSAIC_FFT_BACKEND=torch \
  -DANNAMOSAIC_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fft-torch -j"$jobs" --target test_fft
build-fft-torch/tests/pipeline/fft/test_fft --gtest_brief=1

echo "== torch-only build (what scripts/gpu-check.sh builds on a GPU machine)"
cmake -S . -B build-torchonly -DCMAKE_BUILD_TYPE=Release -DANNAMOSAIC_TORCH_ONLY=ON >/dev/null
cmake --build build-torchonly -j"$jobs"

echo "== default build and test suite"
bash scripts/build.sh
(cd build && ctest --output-on-failure -j"$jobs" -LE heavy)

echo "== CPU half of the GPU check (its inputs made by the default build; the CUDA half needs a GPU)"
build/tests/pipeline/anet/anet_bench export-input 512 build-torchonly/check-input
/usr/bin/python3 tests/bench/model_to_raw.py models/anet-microtubules-ngf16.h5 build-torchonly/check-weights
mkdir -p build-torchonly/check-out
build-torchonly/anet_gpu_check --weights build-torchonly/check-weights --input build-torchonly/check-input \
  --out build-torchonly/check-out --sizes 512 --cpu-only
