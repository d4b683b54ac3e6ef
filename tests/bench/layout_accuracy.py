#!/usr/bin/env python3
"""Tile-position accuracy of a run against the simulator's ground truth.
Usage: layout_accuracy.py CAMPAIGN_DIR OUTPUT_DIR [pixel_nm]
Prints RMS and max error in pixels (after removing the global offset, which is arbitrary) for
FoVs with localizations ("non-empty": >= 100 localizations) and for near-empty FoVs, plus the
stage error (nominal vs true) for comparison."""
import csv, json, sys
import numpy as np

camp, out = sys.argv[1], sys.argv[2]
px = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
truth = {int(r["id"]): r for r in csv.DictReader(open(camp + "/ground_truth/positions.csv"))}
nominal = {int(r["id"]): r for r in csv.DictReader(open(camp + "/positions.csv"))}
lay = json.load(open(out + "/layout.json"))
ids, got, true, nom, full, comp = [], [], [], [], [], []
for t in lay["tiles"]:
    i = t["id"]
    ids.append(i)
    got.append((t["x_px"], t["y_px"]))
    true.append((float(truth[i]["x_um"]) * 1000 / px, float(truth[i]["y_um"]) * 1000 / px))
    nom.append((float(nominal[i]["x_um"]) * 1000 / px, float(nominal[i]["y_um"]) * 1000 / px))
    full.append(int(truth[i]["localizations"]) >= 100)
    comp.append(t.get("component", 0))
got, true, nom, full, comp = map(np.array, (got, true, nom, full, comp))
main = comp == np.bincount(comp).argmax()  # the largest registered component
def report(name, est):
    d = est - true
    d -= d[main & full].mean(axis=0)  # global offset, from the largest registered component
    e = np.hypot(d[:, 0], d[:, 1])
    for label, m in (("non-empty", full), ("near-empty", ~full), ("main comp.", main & full),
                     ("other comp.", ~main & full)):
        if m.any():
            print(f"{name:8s} {label:10s} n={m.sum():4d}  RMS {np.sqrt((e[m]**2).mean()):7.2f} px  max {e[m].max():7.2f} px")
report("layout", got)
report("stage", nom)
s = lay["summary"]
print("layout summary:", {k: s[k] for k in ("pairs", "accepted", "used", "dropped_by_solver", "components", "tiles_placed_by_stage", "rms_residual_px") if k in s})
