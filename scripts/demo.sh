#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root): install what is missing, build, and run
# the main job on the embedded demo campaign (configs/demo.ini, compiled into the binary):
# simulate 4 x 4 FoVs of 25 um, reconstruct them with the shipped A-net, stitch, write the
# pyramidal mosaic and the QC report. Outputs go to out/demo/ (see README "run").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
bash scripts/build.sh
bin=build/jobs/cli/annamosaic
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The main job, on 2 MPI ranks (one per GPU on a cluster). --bind-to none: mpirun would pin each
# of 2 ranks to a single core; unbound, each rank takes half of the machine's cores.
mpirun -n 2 --oversubscribe --bind-to none "$bin" run
# A third-party table (EPFL 2013 SMLM challenge) rendered sparse (10% of the frames) and dense.
"$bin" render --config configs/demo.ini --frames first:36 -o out/demo/epfl-sparse.tif -q
"$bin" render --config configs/demo.ini --frames all -o out/demo/epfl-dense.tif -q
"$bin" inspect out/demo/mosaic.ims
echo
echo "demo outputs in out/demo/: mosaic.ims (+ mosaic.xml for Fiji/BigDataViewer), qc/ (open"
echo "qc/overview_reconstruction.png, qc/heatmap_error.png and qc/links.png), layout.json, fov/*.h5, epfl-*.png"
