#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root): install what is missing, build, and run
# the whole default test suite. Also checks the sanitizer (ASan+UBSan) build of the libraries
# that do not link LibTorch, and the permissive (LibTorch pocketfft) FFT backend.
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

echo "== default build and test suite"
bash scripts/build.sh
cd build && ctest --output-on-failure -j"$jobs" -LE heavy
