"""Overlap-strip registration: annamosaic against scikit-image's phase_cross_correlation on the same
strip pairs (cut from a simulated campaign with ground truth), in the same run.

    /usr/bin/python3 tests/bench/bench_register.py --bench build/tests/bench/bench_register \
        --campaign out/grid8 [--workdir /tmp/bench_register] [--repeats 3]

The strips are what the stitcher registers: the overlap predicted by the stage widened by the search
range (2 um: 250 x 2765 px at 20 nm for a 55.3 um FoV with 1 um overlap), zeros where a tile has no
data. skimage gets the full-resolution strips (upsample_factor 10 and 20); annamosaic its own
pipeline on the same arrays (reduce by --scale, pre-filter, window, phase correlation with 8 peaks
and NCC validation, NCC refinement), single-threaded like numpy's FFT. Accuracy is measured on the
pairs whose true overlap has structure (NCC >= 0.5 at the true shift): fraction within 1 px, and
RMS per axis of those within 3 px.
"""
import argparse, csv, os, subprocess, sys, time
import numpy as np
import tifffile
from skimage.registration import phase_cross_correlation


def load_pairs(workdir):
    with open(os.path.join(workdir, "pairs.csv")) as f:
        rows = list(csv.DictReader(f))
    pairs = []
    for r in rows:
        k = int(r["pair"])
        p = {key: float(v) for key, v in r.items()}
        p["fixed"] = tifffile.imread(os.path.join(workdir, f"{k:03d}_fixed.tif"))
        p["moving"] = tifffile.imread(os.path.join(workdir, f"{k:03d}_moving.tif"))
        pairs.append(p)
    return pairs


def ncc_at(p, sx, sy):
    """NCC of fixed(x, y) and moving(x + sx, y + sy) over the overlap of their data rectangles."""
    fx0, fy0, fw, fh = int(p["fixed_x0"]), int(p["fixed_y0"]), int(p["fixed_w"]), int(p["fixed_h"])
    mx0, my0, mw, mh = int(p["moving_x0"]), int(p["moving_y0"]), int(p["moving_w"]), int(p["moving_h"])
    x0, x1 = max(fx0, mx0 - sx), min(fx0 + fw, mx0 + mw - sx)
    y0, y1 = max(fy0, my0 - sy), min(fy0 + fh, my0 + mh - sy)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    a = p["fixed"][y0:y1, x0:x1].astype(np.float64)
    b = p["moving"][y0 + sy:y1 + sy, x0 + sx:x1 + sx].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / d) if d > 0 else 0.0


def evaluate(name, pairs, offsets, seconds, registrable):
    """offsets: measured (dx, dy) of b - a per pair (None = no result)."""
    errs = []
    for p, o in zip(pairs, offsets):
        if not registrable[int(p["pair"])]:
            continue
        if o is None:
            errs.append((np.inf, np.inf))
        else:
            errs.append((o[0] - p["true_dx"], o[1] - p["true_dy"]))
    e = np.array(errs)
    n = np.hypot(e[:, 0], e[:, 1])
    ok = n < 3
    rms = float(np.sqrt((e[ok] ** 2).mean())) if ok.any() else float("nan")
    return {"name": name, "pairs_per_s": len(pairs) / seconds, "ms": 1000 * seconds / len(pairs),
            "within_1px": float((n < 1).mean()), "within_3px": float(ok.mean()), "rms": rms, "n": len(e)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="the bench_register executable")
    ap.add_argument("--campaign", required=True, help="simulated campaign folder (annamosaic simulate --write-dense)")
    ap.add_argument("--workdir", default="/tmp/bench_register")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--search-um", type=float, default=2.0)
    ap.add_argument("--max-pairs", type=int, default=0, help="use only the first N pairs (0: all)")
    args = ap.parse_args()

    if not os.path.exists(os.path.join(args.workdir, "pairs.csv")):
        subprocess.run([args.bench, "export", args.campaign, args.workdir, "--search-um", str(args.search_um)], check=True)
    pairs = load_pairs(args.workdir)
    if args.max_pairs:
        pairs = pairs[:args.max_pairs]
    h, w = pairs[0]["fixed"].shape
    print(f"{len(pairs)} strip pairs of {w} x {h} px (full resolution) from {args.campaign}")

    # Which pairs can be registered at all: structure on the true overlap.
    registrable = {}
    for p in pairs:
        sx = int(round(p["d0x"] - p["true_dx"]))
        sy = int(round(p["d0y"] - p["true_dy"]))
        registrable[int(p["pair"])] = ncc_at(p, sx, sy) >= 0.5
    print(f"{sum(registrable.values())} pairs have structure on their true overlap (NCC >= 0.5 at the true shift)")

    results = []
    for up in (10, 20):
        best = np.inf
        for _ in range(args.repeats):
            offsets = []
            t0 = time.perf_counter()
            for p in pairs:
                shift, _, _ = phase_cross_correlation(p["fixed"], p["moving"], upsample_factor=up, normalization="phase")
                # skimage: the shift that moves `moving` onto `fixed` = minus our content shift s; b - a = d0 - s.
                offsets.append((p["d0x"] + shift[1], p["d0y"] + shift[0]))
            best = min(best, time.perf_counter() - t0)
        results.append(evaluate(f"skimage phase_cross_correlation, upsample {up}", pairs, offsets, best, registrable))

    for scale in (2, 1):
        out = subprocess.run([args.bench, "time", args.workdir, "--scale", str(scale), "--repeats", str(args.repeats),
                              "--threads", "1"], check=True, capture_output=True, text=True).stdout
        rows = {}
        seconds = 0.0
        for line in out.splitlines():
            if line.startswith("#") or line.startswith("pair"):
                continue
            k, dx, dy, valid, ncc, ncc2, s = line.split(",")
            rows[int(k)] = (float(dx), float(dy)) if valid == "1" else None
            if int(k) < len(pairs):
                seconds += float(s)
        offsets = [rows[int(p["pair"])] for p in pairs]
        results.append(evaluate(f"annamosaic scale {scale} (1 thread)", pairs, offsets, seconds, registrable))

    ref = results[0]
    print(f"\n| method | pairs/s | ms/pair | speed vs skimage up10 | within 1 px | within 3 px | RMS/axis (within 3 px) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['pairs_per_s']:.1f} | {r['ms']:.1f} | {r['pairs_per_s'] / ref['pairs_per_s']:.1f}x | "
              f"{100 * r['within_1px']:.0f}% | {100 * r['within_3px']:.0f}% | {r['rms']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
