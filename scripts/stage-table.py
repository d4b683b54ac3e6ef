#!/usr/bin/env python3
"""Where the time of a `run` went: one table from run_summary.json and stitch_summary.json.

  python3 scripts/stage-table.py OUT_DIR [--markdown]

FoV stages (read = parse the table, render, register = widefield registration, anet_in = the
A-net's host input work, infer = the networks with their copies to and from the device, anet_out
= output images and error map, write) are summed over the FoVs of the last `run` and shown as a
share of ranks x wall time (a rerun that had nothing left to do shows the sums over all done FoVs
from the manifest instead, without shares). `infer` is a rank's serial stage (one FoV at a time: on a GPU, how
busy the run kept it); the others run for several FoVs at once, so shares can add up to more
than 100%. Runs before 2026-12-03 have `network` (the networks alone) inside `infer`.
Stitch stages are wall seconds of the stitch stage (register, solve, fuse + pyramid) and the
fusion threads' seconds per rank (load tiles, fuse, compress and write pyramid blocks).
Standard library only, so it runs on any node.
"""
import argparse
import json
import os
import sys

FOV_STAGES = [("read", "parse the table"), ("render", "render S"), ("register", "register widefield"),
              ("anet_in", "A-net input: normalise (host)"),
              ("infer", "A-net networks + device copies (serial stage)"),
              ("network", "networks alone (runs before 2026-12-03)"),
              ("anet_out", "A-net output: images, error map (host)"), ("write", "write fov/NNNN.h5")]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        sys.exit(f"stage-table: {path}: not JSON ({e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    a = ap.parse_args()
    run = load(os.path.join(a.out_dir, "run_summary.json"))
    st = load(os.path.join(a.out_dir, "stitch_summary.json"))
    if run is None and st is None:
        sys.exit(f"stage-table: {a.out_dir} has neither run_summary.json nor stitch_summary.json (not a run's output folder?)")

    rows = []  # (stage, seconds, per FoV, share, what)
    bound = None
    if run is not None:
        n = max(1, run.get("processed", 0))
        ranks = max(1, len(run.get("ranks", [])))
        wall = run.get("seconds", 0.0)
        stages = run.get("stages", {})
        for key, what in FOV_STAGES:
            if key not in stages:
                continue
            s = stages[key]
            rows.append((f"fov:{key}", s["seconds"], s["seconds"] / n, s["share_of_wall"], what))
        # The bound: the busiest per-FoV stage (network is part of infer, so infer stands for it).
        cand = [(stages[k]["share_of_wall"], k) for k, _ in FOV_STAGES if k in stages and k != "network"]
        if cand:
            bound = max(cand)[1]
        # A rerun that found every FoV done has no stage times of its own: the manifest's sums over
        # every FoV done (by earlier runs too) say where the FoV time went.
        alld = run.get("all_done_fovs", {})
        if not stages and alld.get("stage_seconds"):
            na = max(1, alld.get("fovs", 0))
            for key, what in FOV_STAGES:
                if key in alld["stage_seconds"]:
                    v = alld["stage_seconds"][key]
                    rows.append((f"fov:{key}", v, v / na, None, what + f" (all {na} done FoVs, earlier runs)"))
            cand = [(alld["stage_seconds"][k], k) for k, _ in FOV_STAGES if k in alld["stage_seconds"] and k != "network"]
            if cand:
                bound = max(cand)[1]
        rows.append(("fov stage wall", wall, None, None,
                     f"{run.get('processed', 0)} FoVs on {ranks} rank(s), device {run.get('device', '?')}, "
                     f"precision {run.get('precision', '?')}, load balance {100 * run.get('load_balance', 1):.1f}%"))
    if st is not None:
        swall = st.get("seconds", 0.0)
        for key, what in [("register_s", "register tile pairs"), ("solve_s", "global layout"),
                          ("fuse_and_pyramid_s", "fuse + pyramid (overlapped)"), ("ome_tiff_s", "OME-TIFF export")]:
            if key in st and (key != "ome_tiff_s" or st[key] > 0):
                rows.append((f"stitch:{key[:-2]}", st[key], None, st[key] / swall if swall else None, what))
        fr = st.get("fusion_ranks", [])
        if fr:
            for key, what in [("load_thread_s", "load tiles"), ("fuse_thread_s", "blend blocks"),
                              ("write_block_thread_s", "pyramid: compress + write")]:
                tot = sum(r.get(key, 0.0) for r in fr)
                rows.append((f"stitch:{key[:-9]} (thread-s)", tot, None, None, what))
        rows.append(("stitch stage wall", swall, None, None,
                     f"{st.get('ranks', '?')} rank(s), mosaic {st.get('mosaic_width_px', '?')} x {st.get('mosaic_height_px', '?')} px"))
    if run is not None and st is not None:
        rows.append(("total (fov + stitch)", run.get("seconds", 0.0) + st.get("seconds", 0.0), None, None, "QC report not included"))

    def fmt(v, spec):
        return "" if v is None else format(v, spec)

    if a.markdown:
        print("| stage | seconds | per FoV (s) | share of wall | what |")
        print("| --- | ---: | ---: | ---: | --- |")
        for name, s, per, share, what in rows:
            print(f"| {name} | {s:.2f} | {fmt(per, '.3f')} | {fmt(None if share is None else 100 * share, '.1f')}{'%' if share is not None else ''} | {what} |")
    else:
        print(f"{'stage':<31}{'seconds':>10}{'per FoV':>10}{'share':>8}  what")
        for name, s, per, share, what in rows:
            sh = "" if share is None else f"{100 * share:.1f}%"
            print(f"{name:<31}{s:>10.2f}{fmt(per, '.3f'):>10}{sh:>8}  {what}")
    if bound and bound not in run.get("stages", {}):
        tot = sum(v for k, v in run["all_done_fovs"]["stage_seconds"].items() if k != "network")
        print(f"bound: fov:{bound} ({100 * run['all_done_fovs']['stage_seconds'][bound] / tot:.0f}% of the FoV stages' "
              "seconds, all done FoVs)")
    elif bound:
        s = run["stages"]
        net = s.get("network", {}).get("share_of_wall")
        extra = f"; the networks alone {100 * net:.0f}% of ranks x wall" if net is not None else ""
        print(f"bound: fov:{bound} ({100 * s[bound]['share_of_wall']:.0f}% of ranks x wall{extra})")


if __name__ == "__main__":
    main()
