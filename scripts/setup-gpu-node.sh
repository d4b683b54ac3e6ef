#!/usr/bin/env bash
# The full annamosaic (MPI, parallel HDF5, TBB, FFTW, libtiff, CUDA LibTorch) on a GPU node that
# has a PyTorch wheel, a compiler and CMake but none of the Debian -dev packages, and no network.
#
#   bash scripts/setup-gpu-node.sh fetch   # on any Debian 12 machine with apt (login node, laptop):
#                                          # downloads the Debian 12 packages into gpu-node/debs (~38 MB)
#   bash scripts/setup-gpu-node.sh build   # on the GPU node, with gpu-node/debs copied there:
#                                          # unpacks them into gpu-node/prefix, builds build-gpu/
#   bash scripts/setup-gpu-node.sh         # both: fetch if gpu-node/debs is missing, then build
#   bash scripts/setup-gpu-node.sh check   # the built binary: its libraries found, mpirun starts it
#   source gpu-node/env.sh                 # then the same commands as on Debian:
#   mpirun -n 1 annamosaic run --config configs/demo.ini
#
# Nothing is installed system-wide: the prefix is a folder, the binaries find its libraries by
# RPATH, and gpu-node/env.sh (also sourced by the wrappers in gpu-node/bin) sets OPAL_PREFIX so
# the relocated OpenMPI finds its components and helper programs.
# Environment (all optional):
#   GPU_NODE_DIR   where debs/, prefix/ and env.sh live (default <repo>/gpu-node)
#   BUILD_DIR      build folder (default <repo>/build-gpu)
#   TORCH_PREFIX   a LibTorch's CMake prefix (default: the one inside python3's torch)
#   WITH_CUDA      ON/OFF (default ON when that torch was built with CUDA)
#   CUDA_ARCHS     CMAKE_CUDA_ARCHITECTURES (default: from nvidia-smi, else 90)
#   JOBS           parallel compile jobs (default nproc)
#   WITH_TESTS     ON/OFF: also build the GoogleTest suite (default ON)
#   PREFIX_FMT_FIRST  1 (default): when torch bundles fmt headers, the prefix's fmt (Debian's 9,
#                  which its spdlog and libfmt.so.9 need) is searched first; 0: torch's order
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
node_dir=${GPU_NODE_DIR:-$repo/gpu-node}
build_dir=${BUILD_DIR:-$repo/build-gpu}
mode=${1:-auto}
arch=x86_64-linux-gnu

die() { echo "setup-gpu-node: error: $*" >&2; exit 1; }
say() { echo "setup-gpu-node: $*"; }
# The linker's rpath flags are one space-separated CMake string: a folder with white space in its
# name would be cut there (refused here rather than linking against half a path).
for d in "$node_dir" "$build_dir"; do
  [[ $d != *[[:space:]]* ]] || die "'$d' has white space in its path: set GPU_NODE_DIR / BUILD_DIR to a folder without"
done

# What annamosaic's CMakeLists finds, as Debian 12 packages. Their runtime dependencies are added
# by dependency closure (below); build-time-only -dev dependencies are not followed.
ROOTS=(
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
  libtbb-dev libfftw3-dev libtiff-dev libpng-dev zlib1g-dev libdeflate-dev libxxhash-dev
  libboost-program-options-dev libboost-program-options1.74-dev libboost1.74-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev googletest
)
# Present on every glibc Linux with a C++ compiler; shipping our own copies would shadow the
# node's newer ones (and libc cannot be shipped at all).
BASE='^(libc6|libc6-dev|libc-dev-bin|libgcc-s1|libstdc\+\+6|gcc-[0-9]+-base|libgomp1|debconf|dpkg|tar|perl-base|perl|passwd|adduser|debianutils|libcrypt1|install-info|sensible-utils|ucf|lsb-base|init-system-helpers|readline-common|libstdc\+\+-[0-9]+-dev|linux-libc-dev|libcrypt-dev|libnsl-dev|libtirpc-dev|rpcsvc-proto)$'

# Not needed to build or run annamosaic, though -dev packages or OpenMPI's launcher depend on them:
# compilers and their runtimes (the node has its own), Fortran bindings, the other FFTW
# precisions, hwloc's optional plugins (X11, OpenCL, libxml2/ICU), ssh (multi-node launch uses
# the node's own), documentation scripts.
SKIP='^(gcc-[0-9]+|g\+\+-[0-9]+|gfortran-[0-9]+|cpp-[0-9]+|binutils.*|libbinutils|libctf.*|libgprofng0|lib(gcc|gfortran|stdc\+\+|objc)-[0-9]+-dev|lib(asan|tsan|ubsan|lsan|itm|cc1|isl|mpc|mpfr)[0-9-]*|libgfortran5|libquadmath0|catch2|libjs-.*|openssh-client|libhwloc-plugins|libhdf5-openmpi-(hl-)?(fortran|cpp)-.*|libfftw3-(bin|double3|long3|quad3))$'

# Prints the package closure: ROOTS, plus every runtime dependency (first alternative of each
# or-group, recursively), minus BASE and SKIP. From -dev packages only non -dev dependencies are followed.
closure() {
  declare -A seen=()
  local queue=("${ROOTS[@]}") p
  while ((${#queue[@]})); do
    p=${queue[0]}; queue=("${queue[@]:1}")
    [[ -n ${seen[$p]:-} || $p =~ $BASE || $p =~ $SKIP ]] && continue
    seen[$p]=1
    echo "$p"
    # apt-cache marks an or-group with '|' on every member but the last: take the first member.
    while read -r d; do
      [[ $p == *-dev && $d == *-dev ]] && continue
      queue+=("$d")
    done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
               --no-replaces --no-enhances "$p" 2>/dev/null | awk '
      /^ *\|?(Pre)?Depends:/ {
        alt = ($1 ~ /^\|/); name = $2
        if (!in_group && name !~ /^</) print name
        in_group = alt
      }')
  done
}

fetch() {
  command -v apt-get > /dev/null || die "fetch needs apt-get (a Debian 12 machine); copy gpu-node/debs from one instead"
  . /etc/os-release
  [[ ${VERSION_CODENAME:-} == bookworm ]] || [[ -n ${ALLOW_OTHER_RELEASE:-} ]] ||
    die "fetch runs on Debian 12 (bookworm), this is ${PRETTY_NAME:-unknown}: the prefix must hold Debian 12's builds (set ALLOW_OTHER_RELEASE=1 to try anyway)"
  mkdir -p "$node_dir/debs.part"
  local pkgs
  mapfile -t pkgs < <(closure | sort -u)
  say "fetching ${#pkgs[@]} Debian 12 packages into $node_dir/debs"
  (cd "$node_dir/debs.part" && apt-get -q -o APT::Sandbox::User=root download "${pkgs[@]}") > "$node_dir/fetch.log" 2>&1 ||
    { tail -n 20 "$node_dir/fetch.log" >&2; die "apt-get download failed (log: $node_dir/fetch.log)"; }
  printf '%s\n' "${pkgs[@]}" > "$node_dir/debs.part/PACKAGES"
  rm -rf "$node_dir/debs"
  mv "$node_dir/debs.part" "$node_dir/debs"
  say "fetched $(ls "$node_dir/debs"/*.deb | wc -l) packages, $(du -sh "$node_dir/debs" | cut -f1)"
}

# Unpacks one .deb without dpkg (the node may not be Debian-based): ar archive, data.tar.*.
unpack_deb() {
  local deb=$1 dest=$2
  if command -v dpkg-deb > /dev/null; then dpkg-deb -x "$deb" "$dest"; return; fi
  command -v ar > /dev/null || die "neither dpkg-deb nor ar (binutils) found to unpack $deb"
  local member flag
  member=$(ar t "$deb" | grep '^data\.tar') || die "$deb has no data.tar member"
  case $member in
    *.xz) flag=-J ;; *.zst) flag=--zstd ;; *.gz) flag=-z ;; *.bz2) flag=-j ;; *) flag= ;;
  esac
  ar p "$deb" "$member" | tar -x $flag -C "$dest"
}

make_prefix() {
  local debs=$node_dir/debs prefix=$node_dir/prefix
  ls "$debs"/*.deb > /dev/null 2>&1 ||
    die "no packages in $debs: run 'bash scripts/setup-gpu-node.sh fetch' on a Debian 12 machine with apt, then copy $node_dir here"
  # Packages fetched for an older version of this list (a dependency added since) would fail later,
  # in CMake, with a less helpful message.
  local root missing=()
  for root in "${ROOTS[@]}"; do grep -qx "$root" "$debs/PACKAGES" 2>/dev/null || missing+=("$root"); done
  ((${#missing[@]} == 0)) ||
    die "$debs was fetched for an older package list (missing: ${missing[*]}): run 'bash scripts/setup-gpu-node.sh fetch' again on a Debian 12 machine and copy $node_dir here"
  if [[ -f $prefix/.complete && $prefix/.complete -nt $debs/PACKAGES ]]; then
    say "prefix $prefix is up to date"; return
  fi
  say "unpacking $(ls "$debs"/*.deb | wc -l) packages into $prefix"
  rm -rf "$prefix.part"; mkdir -p "$prefix.part"
  local deb
  for deb in "$debs"/*.deb; do unpack_deb "$deb" "$prefix.part"; done
  # Debian's absolute symlinks point into /usr: point them into the prefix instead.
  local link target
  while IFS= read -r link; do
    target=$(readlink "$link")
    [[ $target == /* ]] && ln -sfn "$prefix$target" "$link"
  done < <(find "$prefix.part" -type l)
  # The links dpkg's alternatives would make.
  local bin=$prefix.part/usr/bin tool
  for tool in mpirun mpiexec mpicc mpicxx mpic++ ompi_info orterun; do
    [[ -e $bin/$tool.openmpi && ! -e $bin/$tool ]] && ln -s "$tool.openmpi" "$bin/$tool"
  done
  mkdir -p "$prefix.part/usr/include/$arch"
  ln -sfn "../../lib/$arch/openmpi/include" "$prefix.part/usr/include/$arch/mpi"
  rm -rf "$prefix"; mv "$prefix.part" "$prefix"
  # The links were made under the .part name: repoint the ones that name it.
  while IFS= read -r link; do
    target=$(readlink "$link")
    [[ $target == "$prefix.part"/* ]] && ln -sfn "$prefix${target#"$prefix.part"}" "$link"
  done < <(find "$prefix" -type l)
  # Debian's OpenMPI has RUNPATH /usr/lib/.../openmpi/lib, which hides the prefix from libmpi's
  # own dependencies: make them $ORIGIN-relative RPATHs (see the script's docstring).
  command -v python3 > /dev/null || die "python3 is needed to relocate the prefix's RUNPATHs"
  python3 "$repo/scripts/relocate-runpath.py" "$prefix"
  touch "$prefix/.complete"
}

write_env() {
  local prefix=$node_dir/prefix u
  u=$prefix/usr
  mkdir -p "$node_dir/bin"
  # OpenMPI and PMIx find their plugins and helper programs (orted, also started by a lone
  # `annamosaic run` without mpirun) through OPAL_PREFIX / PMIX_INSTALL_PREFIX; the libraries
  # find each other by RPATH/RUNPATH, so no LD_LIBRARY_PATH.
  # Values quoted for the shell that sources them (a folder with a space in its name).
  cat > "$node_dir/mpi-env.sh" << EOF
export OPAL_PREFIX=$(printf %q "$u")
export OPAL_LIBDIR=$(printf %q "$u/lib/$arch/openmpi/lib")
export OPAL_SYSCONFDIR=$(printf %q "$prefix/etc/openmpi")
export PMIX_INSTALL_PREFIX=$(printf %q "$u/lib/$arch/pmix2")
export PMIX_MCA_mca_base_component_path=$(printf %q "$u/lib/$arch/pmix2/lib/pmix")
# mpirun refuses to start without an ssh/rsh agent, even for ranks on this node only (a node
# image often has none); SLURM launches do not use it.
command -v ssh > /dev/null || command -v rsh > /dev/null || export OMPI_MCA_plm_rsh_agent=false
EOF
  local tool real
  for tool in mpirun mpiexec ompi_info mpicc mpicxx; do
    real=$u/bin/$tool.openmpi
    [[ -e $real ]] || real=$u/bin/$tool
    cat > "$node_dir/bin/$tool" << EOF
#!/usr/bin/env bash
# Debian 12's OpenMPI, relocated into $prefix (made by scripts/setup-gpu-node.sh).
. $(printf %q "$node_dir/mpi-env.sh")
exec $(printf %q "$real") "\$@"
EOF
    chmod +x "$node_dir/bin/$tool"
  done
  cat > "$node_dir/env.sh" << EOF
# source this: annamosaic and the relocated OpenMPI (made by scripts/setup-gpu-node.sh)
. $(printf %q "$node_dir/mpi-env.sh")
export PATH=$(printf %q "$build_dir/jobs/cli:$node_dir/bin"):\$PATH
EOF
}

find_torch() {
  if [[ -n ${TORCH_PREFIX:-} ]]; then echo "$TORCH_PREFIX"; return; fi
  python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2> /dev/null ||
    die "no LibTorch: python3 cannot import torch; set TORCH_PREFIX to a LibTorch's CMake prefix"
}

build() {
  make_prefix
  write_env
  local u=$node_dir/prefix/usr torch with_cuda archs gen
  torch=$(find_torch)
  with_cuda=${WITH_CUDA:-}
  if [[ -z $with_cuda ]]; then
    with_cuda=OFF
    if [[ -z ${TORCH_PREFIX:-} ]] && python3 -c 'import sys, torch; sys.exit(torch.version.cuda is None)' 2> /dev/null; then
      with_cuda=ON
    fi
  fi
  archs=${CUDA_ARCHS:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -n1 | tr -d . || true)}
  archs=${archs:-90}
  gen=$(command -v ninja > /dev/null && echo Ninja || echo "Unix Makefiles")
  local cuda_args=()
  if [[ $with_cuda == ON ]]; then
    local nvcc
    nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    cuda_args=(-DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES="$archs")
    export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-${archs:0:-1}.${archs: -1}}
  fi
  local py
  py=$(command -v python3 || true)
  # PyTorch wheels bundle fmt headers (a newer fmt than Debian 12's, which spdlog and libfmt.so.9
  # in the prefix are built with) in torch/include, which targets see as -isystem. An -I folder
  # holding only the prefix's fmt and spdlog is searched before every -isystem one.
  local cxx_flags="" torch_inc
  torch_inc=$(cd "$torch/../.." 2> /dev/null && pwd)/include
  if [[ -d $torch_inc/fmt && ${PREFIX_FMT_FIRST:-1} == 1 ]]; then
    mkdir -p "$node_dir/include-first"
    ln -sfn "$u/include/fmt" "$node_dir/include-first/fmt"
    ln -sfn "$u/include/spdlog" "$node_dir/include-first/spdlog"
    cxx_flags="-I$node_dir/include-first"
    say "$torch_inc/fmt exists: the prefix's fmt goes first ($cxx_flags)"
  fi
  say "torch: $torch; CUDA: $with_cuda (arch $archs); generator: $gen; build: $build_dir"
  say "tools: $(cmake --version | sed -n 1p); $(c++ --version 2> /dev/null | sed -n 1p)"
  local t0=$SECONDS
  # MPI: Debian's wrapper compilers, run through gpu-node/bin so they find the relocated prefix.
  # HDF5: the parallel build's folder, without its (unrelocatable) h5pcc wrapper.
  # RPATH (not RUNPATH) so that indirect dependencies (libhdf5 -> libmpi -> ...) resolve too, at
  # run time and (ld searches -rpath folders for them) at link time, also in CMake's checks.
  # (Some Debian 12 packages, zlib1g, liblzma5, libzstd1..., keep their libraries in /lib.)
  local rpath="-Wl,--disable-new-dtags -Wl,-rpath,$u/lib/$arch -Wl,-rpath,$u/lib/$arch/openmpi/lib"
  rpath+=" -Wl,-rpath,$node_dir/prefix/lib/$arch"
  (
    cmake -S "$repo" -B "$build_dir" -G "$gen" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$torch;$u" \
      -DMPI_C_COMPILER="$node_dir/bin/mpicc" -DMPI_CXX_COMPILER="$node_dir/bin/mpicxx" \
      -DMPIEXEC_EXECUTABLE="$node_dir/bin/mpirun" \
      -DHDF5_ROOT="$u/lib/$arch/hdf5/openmpi" -DHDF5_C_COMPILER_EXECUTABLE=HDF5_C_COMPILER_EXECUTABLE-NOTFOUND \
      -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON \
      -DCMAKE_EXE_LINKER_FLAGS="$rpath" -DCMAKE_SHARED_LINKER_FLAGS="$rpath" -DCMAKE_CXX_FLAGS="$cxx_flags" \
      -DANNAMOSAIC_WITH_CUDA="$with_cuda" "${cuda_args[@]}" -DANNAMOSAIC_TORCH_ONLY=OFF \
      -DANNAMOSAIC_BUILD_TESTS="${WITH_TESTS:-ON}" \
      ${py:+-DPython3_EXECUTABLE="$py"} > "$node_dir/cmake.log" 2>&1 ||
      { tail -n 40 "$node_dir/cmake.log" >&2; die "configure failed (log: $node_dir/cmake.log)"; }
    grep -E "Found (MPI|HDF5|TIFF|TBB|Boost|Torch)|HDF5 is not|CUDA" "$node_dir/cmake.log" | sed 's/^/  /' || true
    cmake --build "$build_dir" -j "${JOBS:-$(nproc)}" > "$node_dir/build.log" 2>&1 ||
      { grep -B2 -A10 -E "error|FAILED" "$node_dir/build.log" | head -n 80 >&2; die "build failed (log: $node_dir/build.log)"; }
  )
  say "configure + build: $((SECONDS - t0)) s"
  check
}

# The binary must resolve every library from the prefix or the node, and MPI must start.
check() {
  local exe=$build_dir/jobs/cli/annamosaic missing
  [[ -x $exe ]] || die "$exe was not built"
  missing=$(ldd "$exe" | grep "not found" || true)
  [[ -z $missing ]] || die "$exe: libraries not found on this node:
$missing
(add their Debian package to ROOTS in scripts/setup-gpu-node.sh, fetch again)"
  "$node_dir/bin/ompi_info" --version > /dev/null 2>&1 || say "warning: ompi_info did not start (see '$node_dir/bin/ompi_info --version')"
  (export PATH=$build_dir/jobs/cli:$node_dir/bin:$PATH
   export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
   # (into a file, not `| head`: under pipefail head's early exit could fail a working mpirun)
   annamosaic --version && mpirun -n 2 --oversubscribe --bind-to none annamosaic --version > "$node_dir/mpirun-check.log" 2>&1 &&
     head -n 1 "$node_dir/mpirun-check.log") ||
    die "annamosaic did not start under the relocated mpirun"
  say "ready: source $node_dir/env.sh, then e.g. mpirun -n 1 annamosaic run --config configs/demo.ini"
}

case $mode in
  fetch) fetch ;;
  build) build ;;
  check) write_env; check ;;
  auto)
    if ! ls "$node_dir/debs"/*.deb > /dev/null 2>&1; then fetch; fi
    build ;;
  *) die "usage: setup-gpu-node.sh [fetch|build|check]" ;;
esac
