#!/usr/bin/env bash
# scripts/setup-gpu-node.sh on a machine like a GPU node: a minimal Debian 12 root (debootstrap)
# with a compiler, CMake, Python and a LibTorch (here Debian's CPU one; on a node, the PyTorch
# wheel's) but none of annamosaic's other -dev packages. The packages are fetched outside it (as
# on a login node), the build runs inside it, then the demo campaign runs on 2 ranks through the
# relocated mpirun and its mosaic is read with h5py.
#   bash tests/scripts/test_setup_gpu_node.sh [WORK_DIR]     (root, network to Debian's mirror)
#   FULL=1 bash tests/scripts/test_setup_gpu_node.sh        also builds and runs the test suite there
# CTest label "heavy" (ctest -L gpu-node): ~3 min of downloads and setup, then a full build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-/var/tmp/annamosaic-gpu-node-test}
root=$work/root
fail() { echo "test_setup_gpu_node: FAIL: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "needs root (debootstrap, chroot)"
command -v debootstrap > /dev/null || { apt-get install -y -qq debootstrap > /dev/null || fail "cannot install debootstrap"; }
mkdir -p "$work"

# 1. The node: Debian 12 minbase + toolchain + LibTorch, nothing else of annamosaic's.
if [[ ! -f $root/.ready ]]; then
  rm -rf "$root"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian > "$work/debootstrap.log" 2>&1 ||
    fail "debootstrap (log: $work/debootstrap.log)"
  cp /etc/resolv.conf "$root/etc/"
  chroot "$root" bash -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -q &&
    apt-get install -y -q --no-install-recommends g++ cmake make python3 python3-numpy python3-h5py \
      python3-tifffile python3-skimage python3-pandas libtorch-dev libopenblas0 &&
    dpkg -r --force-depends libboost-dev libboost1.74-dev' > "$work/chroot-apt.log" 2>&1 ||
    fail "toolchain in the root (log: $work/chroot-apt.log)"
  touch "$root/.ready"
fi
cleanup() { for m in proc sys dev; do umount "$root/$m" 2> /dev/null || true; done; }
trap cleanup EXIT
for m in proc sys dev; do mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m"; done
# What the node must not have: each header would let a system package stand in for the prefix.
for h in mpi.h hdf5/openmpi/hdf5.h hdf5.h tbb/tbb.h fftw3.h tiffio.h boost/program_options.hpp spdlog/spdlog.h \
         fmt/format.h nlohmann/json.hpp png.h libdeflate.h xxhash.h gtest/gtest.h; do
  [[ ! -e $root/usr/include/$h ]] || fail "the root has /usr/include/$h: not a node without the -dev packages"
done

# 2. Fetch on "the login node" (this machine), into the copy of the repository for the node.
src=$root/src/annamosaic
rm -rf "$src"; mkdir -p "$src"
(cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$src")
GPU_NODE_DIR=$src/gpu-node bash "$repo/scripts/setup-gpu-node.sh" fetch

# 3. Build on "the node".
t0=$SECONDS
tests=OFF; [[ -n ${FULL:-} ]] && tests=ON
chroot "$root" bash -c "cd /src/annamosaic && TORCH_PREFIX=/usr/lib/x86_64-linux-gnu/cmake/Torch WITH_TESTS=$tests \
  bash scripts/setup-gpu-node.sh build" || fail "setup-gpu-node.sh build in the root"
echo "test_setup_gpu_node: build in the root: $((SECONDS - t0)) s"
echo "test_setup_gpu_node: libraries of annamosaic from outside the prefix:"
chroot "$root" bash -c 'ldd /src/annamosaic/build-gpu/jobs/cli/annamosaic | grep -v /src/annamosaic/gpu-node/ | sed "s/^/  /"'

# 4. The same run command as on Debian, with the environment the script wrote.
chroot "$root" bash -c 'cd /src/annamosaic && . gpu-node/env.sh &&
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 &&
  rm -rf /tmp/demo && mpirun -n 2 --oversubscribe --bind-to none annamosaic run --config configs/demo.ini --output /tmp/demo' ||
  fail "the demo run in the root"
# Without mpirun too (MPI_Init then starts the relocated orted itself): the stitch stage again.
chroot "$root" bash -c 'cd /src/annamosaic && . gpu-node/env.sh &&
  annamosaic run --config configs/demo.ini --output /tmp/demo --stage stitch > /tmp/demo/lone.log 2>&1' ||
  fail "a run without mpirun in the root (/tmp/demo/lone.log there)"
chroot "$root" python3 - << 'EOF' || fail "the demo's outputs"
import h5py, json
s = json.load(open("/tmp/demo/run_summary.json"))
assert s["processed"] == s["fovs"] > 0 and s["failed"] == 0, s
assert len(s["ranks"]) == 2 and all(r["fovs"] > 0 for r in s["ranks"]), s["ranks"]
with h5py.File("/tmp/demo/mosaic.ims", "r") as f:
    levels = f["DataSet"]
    data = levels["ResolutionLevel 0/TimePoint 0/Channel 0/Data"]
    top = levels[f"ResolutionLevel {len(levels) - 1}/TimePoint 0/Channel 0/Data"][...]
    assert data.shape[1] > 1000 and data.shape[2] > 1000, data.shape
    assert top.max() > 0, "empty mosaic"
    print(f"test_setup_gpu_node: mosaic {data.shape}, {len(levels)} levels, {s['fovs']} FoVs on 2 ranks in {s['seconds']:.1f} s")
EOF
chroot "$root" python3 /src/annamosaic/scripts/stage-table.py /tmp/demo
if [[ -n ${FULL:-} ]]; then
  # The suite with the node's environment (OPAL_PREFIX: MPI programs run without mpirun too);
  # SLURM needs daemons the root does not run.
  chroot "$root" bash -c 'cd /src/annamosaic && . gpu-node/env.sh && cd build-gpu &&
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ctest -LE "heavy|slurm" -j2 --output-on-failure' ||
    fail "the test suite in the root"
fi
echo "test_setup_gpu_node: PASS"
