#!/usr/bin/env python3
"""Heavy check (ctest label "heavy"): a >= 1 gigapixel mosaic (default 33,180^2 px = 12 x 12
FoVs of 2,765^2, 3 channels) written through the streaming writer, then checked by sampling
with h5py (check_ims.py --sample), described by `inspect`, exported to a pyramidal OME-TIFF and
checked by sampling with tifffile. Prints the writer's figures (wall time, MB/s, peak RSS, file
size, ratio). Outputs are deleted at the end. Exits 77 (skipped) with less than 15 GB free.
Usage: check_gigapixel.py WRITE_SYNTHETIC_IMS ANNAMOSAIC_BIN FOLDER [--width W --height H]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("tool")
ap.add_argument("cli")
ap.add_argument("folder")
ap.add_argument("--width", type=int, default=12 * 2765)
ap.add_argument("--height", type=int, default=12 * 2765)
args = ap.parse_args()
os.makedirs(args.folder, exist_ok=True)
free_gb = shutil.disk_usage(args.folder).free / 1e9
if free_gb < 15:
    print(f"skipping: {free_gb:.1f} GB free in {args.folder}, need 15")
    sys.exit(77)
ims = os.path.join(args.folder, "mosaic.ims")
tif = os.path.join(args.folder, "mosaic.ome.tif")
ok = True
try:
    w = subprocess.run([args.tool, "--out", ims, "--width", str(args.width), "--height", str(args.height),
                        "--channels", "3"], capture_output=True, text=True)
    if w.returncode != 0:
        sys.exit(f"writer failed: {w.stderr}")
    stats = json.loads(w.stdout.strip().splitlines()[-1])
    print("writer:", json.dumps(stats), flush=True)
    steps = [
        [sys.executable, os.path.join(HERE, "check_ims.py"), ims, "--synthetic", "--sample", "3", "--xml",
         os.path.join(args.folder, "mosaic.xml")],
        [args.cli, "inspect", ims],
        [args.cli, "export", ims, "--ome-tiff", tif],
        [sys.executable, os.path.join(HERE, "check_ome_tiff.py"), tif, ims, "--sample", "4"],
    ]
    for cmd in steps:
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        print(f"$ {' '.join(os.path.basename(c) if i < 2 else c for i, c in enumerate(cmd))}  "
              f"({time.perf_counter() - t0:.1f} s, exit {r.returncode})")
        print((r.stdout + r.stderr).strip()[-3000:], flush=True)
        ok = ok and r.returncode == 0
finally:
    for name in os.listdir(args.folder):
        os.remove(os.path.join(args.folder, name))
sys.exit(0 if ok else 1)
