#!/usr/bin/env python3
"""Benchmarks localization-table parsing and rendering against the usual Python baselines,
on the same files, in the same run, and checks that the results agree.

  parse:  annamosaic (1 and 2 threads) vs pandas.read_csv and numpy.loadtxt on a generated
          ThunderSTORM CSV of --csv-mb MB; figure: MB/s and ratios.
  render: annamosaic render_counts vs numpy.histogram2d on the same --render-locs localizations
          binned into a 2765 x 2765 image at 20 nm (one Fig. 4 FoV); figure: M localizations/s.

Exit status is non-zero if a result differs from the baseline (row count, checksum, histogram).
Example (the figures in the notes): python3 tests/bench/bench_io.py --bench build/tests/bench/annamosaic_bench
"""
import argparse, json, os, subprocess, sys, time
import numpy as np


def run_bench(args):
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def best_of(fn, repeats):
    best, result = 1e30, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def make_csv(path, mb, seed=1):
    """ThunderSTORM 2D export layout (9 columns), ~mb megabytes, written in blocks."""
    rng = np.random.default_rng(seed)
    header = '"id","frame","x [nm]","y [nm]","sigma [nm]","intensity [photon]","offset [photon]","bkgstd [photon]","uncertainty [nm]"\n'
    target = mb * 1_000_000
    with open(path, "w") as f:
        f.write(header)
        written, row = len(header), 0
        while written < target:
            n = 200_000
            ids = np.arange(row + 1, row + n + 1)
            frame = ids // 600 + 1
            cols = [ids, frame, rng.uniform(0, 55300, n), rng.uniform(0, 55300, n), rng.uniform(80, 200, n),
                    rng.uniform(300, 5000, n), rng.uniform(50, 150, n), rng.uniform(5, 20, n), rng.uniform(3, 30, n)]
            block = np.column_stack(cols)
            import io
            buf = io.StringIO()
            np.savetxt(buf, block, fmt=["%d", "%d", "%.4f", "%.4f", "%.4f", "%.2f", "%.2f", "%.4f", "%.4f"], delimiter=",")
            s = buf.getvalue()
            f.write(s)
            written += len(s)
            row += n
    return os.path.getsize(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="path of the annamosaic_bench executable")
    ap.add_argument("--csv-mb", type=int, default=500)
    ap.add_argument("--render-locs", type=int, default=100_000_000)
    ap.add_argument("--workdir", default="bench-work")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-loadtxt", action="store_true", help="numpy.loadtxt is slow: skip it")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    failures = []

    # ---- parse ----
    csv = os.path.join(a.workdir, f"thunderstorm-{a.csv_mb}MB.csv")
    if not os.path.exists(csv):
        make_csv(csv, a.csv_mb)
    size_mb = os.path.getsize(csv) / 1e6
    ours = {t: run_bench([a.bench, "parse", csv, str(t), str(a.repeats)]) for t in (1, 2)}
    import pandas as pd
    t_pd, df = best_of(lambda: pd.read_csv(csv), a.repeats)
    rows = len(df)
    x = df["x [nm]"].to_numpy()
    checksum = float(x[::997].sum())
    print(f"parse: file {size_mb:.0f} MB, {rows} rows")
    print(f"  annamosaic 1 thread   {ours[1]['seconds']:8.3f} s  {ours[1]['mb_per_s']:7.1f} MB/s")
    print(f"  annamosaic 2 threads  {ours[2]['seconds']:8.3f} s  {ours[2]['mb_per_s']:7.1f} MB/s")
    print(f"  pandas.read_csv       {t_pd:8.3f} s  {size_mb / t_pd:7.1f} MB/s   ratio annamosaic(2)/pandas = {t_pd / ours[2]['seconds']:.1f}x")
    if not a.skip_loadtxt:
        t_np, arr = best_of(lambda: np.loadtxt(csv, delimiter=",", skiprows=1), 1)
        print(f"  numpy.loadtxt         {t_np:8.3f} s  {size_mb / t_np:7.1f} MB/s   ratio annamosaic(2)/numpy = {t_np / ours[2]['seconds']:.1f}x")
        if arr.shape[0] != rows:
            failures.append("numpy.loadtxt row count differs")
    for t in (1, 2):
        if ours[t]["rows"] != rows:
            failures.append(f"row count {ours[t]['rows']} != pandas {rows}")
        if abs(ours[t]["checksum"] - checksum) > 1e-6 * max(1.0, abs(checksum)):
            failures.append(f"x checksum {ours[t]['checksum']} != pandas {checksum}")

    # ---- render ----
    n, W, px = a.render_locs, 2765, 20.0
    prefix = os.path.join(a.workdir, f"locs{n}")
    rng = np.random.default_rng(2)
    # Clustered like real data (structures), with a few percent outside the field.
    centers = rng.uniform(0, W * px, size=(2000, 2))
    idx = rng.integers(0, len(centers), n)
    xy = centers[idx] + rng.normal(0, 400, size=(n, 2))
    xs, ys = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    del xy, idx
    xs.tofile(prefix + ".x.f64")
    ys.tofile(prefix + ".y.f64")
    (np.arange(n, dtype=np.int32) // 1000).tofile(prefix + ".frame.i32")
    res = {t: run_bench([a.bench, "render", prefix, str(n), str(W), str(W), str(px), str(t), str(a.repeats),
                         prefix + f".counts{t}.u32"]) for t in (1, 2)}
    edges = np.arange(W + 1) * px
    t_np, (h, _, _) = best_of(lambda: np.histogram2d(ys, xs, bins=[edges, edges]), 1)
    ours_counts = np.fromfile(prefix + ".counts2.u32", dtype=np.uint32).reshape(W, W)
    # histogram2d closes the last bin on the right; ours is half-open: compare inside that edge.
    diff = int(np.abs(h[:-1, :-1].astype(np.int64) - ours_counts[:-1, :-1].astype(np.int64)).max())
    same_threads = np.array_equal(np.fromfile(prefix + ".counts1.u32", dtype=np.uint32), ours_counts.ravel())
    print(f"render: {n} localizations into {W} x {W} px at {px} nm ({res[2]['in_image']} inside)")
    print(f"  annamosaic 1 thread   {res[1]['seconds']:8.3f} s  {res[1]['mlocs_per_s']:7.1f} M loc/s")
    print(f"  annamosaic 2 threads  {res[2]['seconds']:8.3f} s  {res[2]['mlocs_per_s']:7.1f} M loc/s")
    print(f"  numpy.histogram2d     {t_np:8.3f} s  {n / t_np / 1e6:7.1f} M loc/s   ratio = {t_np / res[2]['seconds']:.1f}x")
    print(f"  max |count difference| vs numpy: {diff}; 1-thread == 2-thread: {same_threads}")
    if diff != 0:
        failures.append(f"histogram differs from numpy by up to {diff}")
    if not same_threads:
        failures.append("1-thread and 2-thread histograms differ")
    for f in failures:
        print("FAIL:", f)
    print("bench_io: " + ("FAILED" if failures else "results agree with the baselines"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
