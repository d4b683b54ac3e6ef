#!/usr/bin/env bash
# Installs the Debian 12 packages annamosaic needs (idempotent; as root).
# Only packages that are missing are installed; nothing is downloaded outside apt.
set -euo pipefail
PKGS=(
  build-essential cmake git
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
  libtiff-dev libtbb-dev libboost-program-options-dev libfftw3-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libpng-dev zlib1g-dev libdeflate-dev libxxhash-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-numpy python3-h5py python3-tifffile python3-skimage python3-pandas
  slurm-wlm munge
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup-debian: missing packages ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "setup-debian: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup-debian: all packages present"
fi
