#!/usr/bin/env python3
"""Benchmarks the streaming IMS pyramid writer on a synthetic mosaic (default 33,180^2 px =
12 x 12 FoVs of 2,765^2 px, 3 channels: 1.1 gigapixels per channel) against h5py writing the
same pyramid (same levels and rounding, chunks (1, 512, 1024), shuffle + gzip at the same level)
from numpy, on the same machine in the same run.

Runs (each reports wall time, MB/s of pixels written over all levels ("raw") and of file bytes
("compressed"), peak RSS, file size, compression ratio):
  gen      the synthetic generator alone (subtracted from every writer time: both sides are
           timed without the cost of producing the pixels);
  cpp      write_synthetic_ims, 1 rank, --threads T (default encoder: libdeflate);
  cpp-rle  the same with zlib's Z_RLE strategy (the default before 2026-12-03);
  cpp-z    the same with zlib's default strategy (the same encoder settings as h5py);
  cpp-1t   1 rank, 1 thread;
  mpi2     2 ranks x 1 thread (mpiexec -n 2; rows split cyclically);
  h5py     numpy generates 512-row bands (timed apart), builds every level with the same rule
           and writes chunk-aligned, padded bands with h5py (the easiest case for HDF5: no
           partial chunks), then histograms are NOT computed (our writer does: a conservative
           comparison).
Outputs are deleted after each run (check `df -h` first: ~3.5 GB at a time for the default).
Example (the figures in the notes):
  python3 tests/bench/bench_pyramid.py --tool build/tests/stitch/pyramid/write_synthetic_ims --workdir /tmp/pyrbench
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "stitch", "pyramid"))
import synthetic_mosaic as syn  # noqa: E402

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_tool(cmd, env=None):
    t0 = time.perf_counter()
    c0 = cpu_children()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    cpu = cpu_children() - c0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    out["cpu_s"] = cpu  # user + system of the process (and its ranks): load-independent cost
    return out


def h5py_baseline(path, width, height, channels, level):
    """Streams the pyramid band by band; returns (total_s, gen_s, file_bytes, peak_rss_mb)."""
    import h5py
    plan = syn.plan_levels(width, height)
    L = len(plan)
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    gen_s = gen_cpu = 0.0
    with h5py.File(path, "w", libver=("v108", "v108")) as f:
        for c in range(channels):
            dsets = [f.create_dataset(f"DataSet/ResolutionLevel {r}/TimePoint 0/Channel {c}/Data",
                                      (1, -(-h // 512) * 512, -(-w // 1024) * 1024), dtype="<u2",
                                      chunks=(1, 512, 1024), shuffle=True, compression="gzip",
                                      compression_opts=level, fillvalue=0)
                     for r, (w, h) in enumerate(plan)]
            to_write = [[] for _ in range(L)]   # rows waiting for a whole chunk row
            to_halve = [None] * L              # rows waiting for their 2x2 partner row
            written = [0] * L
            produced = [0] * L

            def write_band(r, band):
                padded = np.zeros((512, dsets[r].shape[2]), np.uint16)
                padded[:band.shape[0], :band.shape[1]] = band
                dsets[r][0, written[r]:written[r] + 512, :] = padded  # whole chunks: no read-modify-write
                written[r] += band.shape[0]

            def push(r, rows):
                to_write[r].append(rows)
                if sum(len(x) for x in to_write[r]) >= 512:
                    buf = np.concatenate(to_write[r])
                    while len(buf) >= 512:
                        write_band(r, buf[:512])
                        buf = buf[512:]
                    to_write[r] = [buf] if len(buf) else []
                if r + 1 < L:
                    buf = rows if to_halve[r] is None else np.concatenate([to_halve[r], rows])
                    n = min(len(buf) // 2 * 2, 2 * (plan[r + 1][1] - produced[r + 1]))
                    to_halve[r] = buf[n:]
                    if n > 0:
                        down = syn.downsample(buf[:n])
                        produced[r + 1] += len(down)
                        push(r + 1, down)

            for y0 in range(0, height, 512):
                g0, p0 = time.perf_counter(), time.process_time()
                band = syn.region(c, 0, y0, width, min(512, height - y0))
                gen_s += time.perf_counter() - g0
                gen_cpu += time.process_time() - p0
                push(0, band)
            for r in range(L):
                if to_write[r]:
                    write_band(r, np.concatenate(to_write[r]))
                assert written[r] == plan[r][1], (r, written[r], plan[r])
    total = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    return total, gen_s, os.path.getsize(path), r1.ru_maxrss / 1024, cpu - gen_cpu


def summary(name, write_s, pixel_mb, file_mb, rss_mb, extra=""):
    print(f"{name:8s} write {write_s:8.1f} s  raw {pixel_mb / write_s:7.1f} MB/s  compressed {file_mb / write_s:6.1f} MB/s"
          f"  file {file_mb / 1e3:6.2f} GB  ratio {pixel_mb / file_mb:5.2f}  peak RSS {rss_mb:7.1f} MB {extra}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, help="write_synthetic_ims")
    ap.add_argument("--mpiexec", default=shutil.which("mpiexec") or "mpiexec")
    ap.add_argument("--workdir", default="/tmp/annamosaic-bench-pyramid")
    ap.add_argument("--width", type=int, default=12 * 2765)
    ap.add_argument("--height", type=int, default=12 * 2765)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--deflate", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    known = ["gen", "cpp", "cpp-rle", "cpp-z", "cpp-1t", "mpi2", "h5py"]
    ap.add_argument("--runs", default=",".join(known), help="comma-separated, of: " + ", ".join(known))
    ap.add_argument("--check", action="store_true", help="sampled check_ims.py of the first C++ file")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    out = os.path.join(args.workdir, "mosaic.ims")
    runs = args.runs.split(",")
    if unknown := [r for r in runs if r not in known]:
        ap.error(f"--runs: unknown run(s) {', '.join(unknown)} (known: {', '.join(known)}); see the docstring")
    if "gen" not in runs:
        print("note: without 'gen' the writer times include generating the pixels", flush=True)
    base = [args.tool, "--out", out, "--width", str(args.width), "--height", str(args.height),
            "--channels", str(args.channels), "--deflate", str(args.deflate)]
    gp = args.width * args.height / 1e9
    # Each run should own the cores: report the machine's load so contended figures are recognisable.
    print(f"mosaic {args.width} x {args.height} px ({gp:.2f} gigapixels per channel) x {args.channels} channels, "
          f"deflate {args.deflate}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}", flush=True)
    results = {}
    gen, gen_cpu = {}, {}
    for t in sorted({args.threads, 1}):
        if "gen" in runs:
            g = run_tool(base + ["--gen-only", "--threads", str(t)])
            gen[t], gen_cpu[t] = g["wall_s"], g["cpu_s"]
            print(f"gen      {t} thread(s): {g['wall_s']:.1f} s wall, {g['cpu_s']:.1f} s CPU", flush=True)
        else:
            gen[t] = gen_cpu[t] = 0.0

    def cpp(name, extra, threads, env=None, prefix=()):
        if name not in runs:
            return
        r = run_tool(list(prefix) + base + extra + ["--threads", str(threads)], env)
        write_s = r["wall_s"] - gen[threads]
        write_cpu = r["cpu_s"] - gen_cpu[threads]
        results[name] = dict(r, write_s=write_s, write_cpu_s=write_cpu)
        summary(name, write_s, r["pixel_mb"], r["file_mb"], r["peak_rss_mb_max"],
                f"(CPU {write_cpu:.1f} s; wall {r['wall_s']:.1f} s incl. generation; {r['levels']} levels; ranks {r['ranks']}"
                f"{'; RSS sum %.0f MB' % r['peak_rss_mb_sum'] if r['ranks'] > 1 else ''})")
        if args.check and name == "cpp":
            chk = subprocess.run([sys.executable, os.path.join(HERE, "..", "stitch", "pyramid", "check_ims.py"), out,
                                  "--synthetic", "--sample", "3", "--xml", out[:-4] + ".xml"], capture_output=True, text=True)
            print("check:", (chk.stdout + chk.stderr).strip(), flush=True)
            if chk.returncode != 0:
                sys.exit(1)
        os.remove(out)

    cpp("cpp", [], args.threads)
    cpp("cpp-rle", ["--encoder", "zlib-rle"], args.threads)
    cpp("cpp-z", ["--encoder", "zlib"], args.threads)
    cpp("cpp-1t", [], 1)
    cpp("mpi2", [], 1, MPI_ENV, [args.mpiexec, "-n", "2"])
    if "h5py" in runs:
        path = os.path.join(args.workdir, "baseline.h5")
        total, gen_s, size, rss, cpu = h5py_baseline(path, args.width, args.height, args.channels, args.deflate)
        pixel_mb = sum(w * h for w, h in syn.plan_levels(args.width, args.height)) * 2 * args.channels / 1e6
        results["h5py"] = dict(write_s=total - gen_s, write_cpu_s=cpu, file_mb=size / 1e6, pixel_mb=pixel_mb)
        summary("h5py", total - gen_s, pixel_mb, size / 1e6, rss,
                f"(CPU {cpu:.1f} s; wall {total:.1f} s incl. numpy generation {gen_s:.1f} s)")
        os.remove(path)
    if "h5py" in results:
        for name in ("cpp", "cpp-rle", "cpp-z", "cpp-1t", "mpi2"):
            if name in results:
                print(f"h5py / {name}: {results['h5py']['write_s'] / results[name]['write_s']:.2f}x wall, "
                      f"{results['h5py']['write_cpu_s'] / results[name]['write_cpu_s']:.2f}x CPU", flush=True)
    if "cpp-1t" in results and "mpi2" in results:
        print(f"1 rank x 1 thread / 2 ranks x 1 thread: {results['cpp-1t']['write_s'] / results['mpi2']['write_s']:.2f}x")
    print(json.dumps({k: {kk: v for kk, v in r.items() if isinstance(v, (int, float, str))} for k, r in results.items()}))


if __name__ == "__main__":
    main()
