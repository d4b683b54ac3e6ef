#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root): install what is missing, build, and run
# the main job on the embedded demo (configs/demo.ini). Outputs go to out/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
bash scripts/build.sh
bin=build/jobs/cli/annamosaic
mkdir -p out/demo
# The demo campaign with ground truth (configs/demo.ini [simulate]) -> out/demo/campaign.
"$bin" simulate --config configs/demo.ini
# One simulated FoV rendered from its sparse table.
"$bin" render out/demo/campaign/fov/0000/locs.csv --pixel-nm 20 --field-nm 0,0,25000,25000 -o out/demo/fov0000-sparse.tif
# Sparse image: the first 10% of the frames (36 of 361), as ANNA-PALM's input S.
"$bin" render --config configs/demo.ini --frames first:36 -o out/demo/sparse.tif
# Dense image: all frames.
"$bin" render --config configs/demo.ini --frames all -o out/demo/dense.tif
echo
echo "demo outputs in out/demo/:"
ls -l out/demo
