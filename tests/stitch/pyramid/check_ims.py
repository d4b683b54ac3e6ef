#!/usr/bin/env python3
"""Independent check of mosaic.ims (+ mosaic.xml) with h5py, reading the file the way Imaris-file
readers do: attributes as arrays of 1-character strings, true sizes from ImageSizeX/Y (padding
cropped), pixel size from (ExtMax - ExtMin) / size.

Checks: the Imaris layout and attribute encoding; uint16 data sets (1, Y, X) padded to the
(1, 512, 1024) chunk, shuffle then deflate, zero padding; the level plan (halve with floor until
one chunk); every level r+1 equals (a+b+c+d+2)//4 of level r (and so the 2x2 mean within 0.5);
level 0 equals the synthetic blocks bit for bit (--synthetic); histograms (256/1024 bins over
[min, max]) and HistogramMin/Max; DataSetInfo (channels, colours, time, quantisation scale);
the BigDataViewer XML (--xml). With --sample N only N random windows per level are compared
(for gigapixel files); otherwise everything is read.
Usage: check_ims.py MOSAIC.ims [--synthetic] [--pixel-um 0.02] [--xml MOSAIC.xml] [--sample N]
Exits 77 (ctest: skipped) when h5py or numpy is missing.
"""
import argparse
import os
import sys
import xml.etree.ElementTree as ET

try:
    import numpy as np
    import h5py
except ImportError as e:
    print(f"skipping: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synthetic_mosaic as syn  # noqa: E402

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def text(obj, name):
    """An IMS attribute: a 1-D array of 1-character strings -> str."""
    a = obj.attrs[name]
    return b"".join(np.asarray(a).ravel().tolist()).decode()


def check_attr_encoding(f):
    def visit(name, obj):
        for k in obj.attrs:
            v = obj.attrs[k]
            where = f"/{name}@{k}" if name else f"/@{k}"
            if k == "NumberOfDataSets" and name == "":
                check(v.dtype == np.uint32 and v.shape == (1,) and v[0] == 1, f"{where} must be uint32 [1]")
                continue
            check(isinstance(v, np.ndarray) and v.dtype == np.dtype("S1") and v.ndim == 1 and v.size >= 1,
                  f"{where}: not a 1-D array of 1-character strings ({type(v).__name__} {getattr(v, 'dtype', '')})")
    visit("", f)
    f.visititems(visit)


def histogram(a, bins):
    lo, hi = int(a.min()), int(a.max())
    idx = ((a.astype(np.int64) - lo) * bins) // (hi - lo + 1)
    return lo, hi, np.bincount(idx.ravel(), minlength=bins).astype(np.uint64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ims")
    ap.add_argument("--synthetic", action="store_true", help="level 0 must equal synthetic_mosaic.region")
    ap.add_argument("--pixel-um", type=float, default=0.02)
    ap.add_argument("--xml")
    ap.add_argument("--full-max-px", type=int, default=16 * 2**20,
                    help="with --sample, levels up to this many pixels are still compared in full")
    ap.add_argument("--sample", type=int, default=0, help="random windows per level instead of everything")
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    with open(args.ims, "rb") as fh:
        head = fh.read(9)
    check(head[:8] == b"\x89HDF\r\n\x1a\n", "not an HDF5 file")
    check(head[8] in (0, 1, 2), f"superblock version {head[8]}: expected 0-2 (no H5F_LIBVER_LATEST)")

    f = h5py.File(args.ims, "r")
    check_attr_encoding(f)
    for k, v in [("ImarisDataSet", "ImarisDataSet"), ("ImarisVersion", "5.5.0"), ("DataSetDirectoryName", "DataSet"),
                 ("DataSetInfoDirectoryName", "DataSetInfo"), ("ThumbnailDirectoryName", "Thumbnail")]:
        check(text(f, k) == v, f"/@{k} = {text(f, k)!r}, expected {v!r}")

    img = f["DataSetInfo/Image"]
    X, Y, Z = int(text(img, "X")), int(text(img, "Y")), int(text(img, "Z"))
    check(text(img, "Unit") == "um", "Unit must be um")
    ext = {k: float(text(img, k)) for k in ["ExtMin0", "ExtMin1", "ExtMin2", "ExtMax0", "ExtMax1", "ExtMax2"]}
    px = ((ext["ExtMax0"] - ext["ExtMin0"]) / X, (ext["ExtMax1"] - ext["ExtMin1"]) / Y,
          (ext["ExtMax2"] - ext["ExtMin2"]) / Z)
    check(abs(px[0] - args.pixel_um) < 1e-9 and abs(px[1] - args.pixel_um) < 1e-9,
          f"pixel size from ExtMin/ExtMax {px[:2]} != {args.pixel_um}")
    check(ext["ExtMax2"] > ext["ExtMin2"], "ExtMax2 must exceed ExtMin2 for 2D data")
    for k in ["Name", "Description", "RecordingDate"]:
        check(k in img.attrs, f"DataSetInfo/Image@{k} missing")
    ti = f["DataSetInfo/TimeInfo"]
    check(text(ti, "DatasetTimePoints") == "1" and text(ti, "FileTimePoints") == "1", "TimeInfo time points")
    date = text(ti, "TimePoint1")
    check(len(date) == 19 and date[4] == "-" and date[10] == " " and date[13] == ":", f"TimePoint1 {date!r}")
    check("Thumbnail/Data" in f and f["Thumbnail/Data"].shape == (256, 1024), "Thumbnail/Data 256 x 1024 (RGBA)")

    levels = sorted(int(n.split(" ")[1]) for n in f["DataSet"])
    plan = syn.plan_levels(X, Y)
    check(levels == list(range(len(plan))), f"levels {levels}, expected 0..{len(plan) - 1}")
    channels = sorted(int(n.split(" ")[1]) for n in f["DataSet/ResolutionLevel 0/TimePoint 0"])
    nc = len(channels)
    check(channels == list(range(nc)) and nc >= 1, f"channels {channels}")

    names = []
    for c in range(nc):
        g = f[f"DataSetInfo/Channel {c}"]
        names.append(text(g, "Name"))
        color = [float(v) for v in text(g, "Color").split()]
        check(len(color) == 3 and all(0 <= v <= 1 for v in color), f"Channel {c} Color {text(g, 'Color')!r}")
        lo, hi = (float(v) for v in text(g, "ColorRange").split())
        check(lo < hi, f"Channel {c} ColorRange {lo} {hi}")
        check(float(text(g, "QuantisationScale")) > 0, f"Channel {c} QuantisationScale")
        if args.synthetic:
            check(names[-1] == syn.NAMES[c % 4], f"Channel {c} name {names[-1]!r}")
            expect_scale = 1000.0 if c % 4 == 1 else 1.0
            check(float(text(g, "QuantisationScale")) == expect_scale, f"Channel {c} scale")
    check("QC blocks" in f["DataSetInfo/Annamosaic"].attrs or not args.synthetic, "QC attributes missing")

    for c in range(nc):
        below = None  # level r-1, true size, as read
        for r, (w, h) in enumerate(plan):
            g = f[f"DataSet/ResolutionLevel {r}/TimePoint 0/Channel {c}"]
            d = g["Data"]
            where = f"level {r} channel {c}"
            check(d.dtype == np.dtype("<u2"), f"{where}: dtype {d.dtype}")
            check(d.chunks == (1, 512, 1024), f"{where}: chunks {d.chunks}")
            check(d.shape == (1, -(-h // 512) * 512, -(-w // 1024) * 1024), f"{where}: shape {d.shape} for {w} x {h}")
            plist = d.id.get_create_plist()
            filt = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
            check(filt == [h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE], f"{where}: filters {filt}")
            sx, sy = int(text(g, "ImageSizeX")), int(text(g, "ImageSizeY"))
            check((sx, sy, text(g, "ImageSizeZ")) == (w, h, "1"), f"{where}: ImageSize {sx} x {sy}")
            check((text(g, "ImageBlockSizeX"), text(g, "ImageBlockSizeY"), text(g, "ImageBlockSizeZ")) ==
                  ("1024", "512", "1"), f"{where}: ImageBlockSize")
            full = args.sample == 0 or w * h <= args.full_max_px
            if full:
                padded = d[0]
                check(not padded[h:, :].any() and not padded[:, w:].any(), f"{where}: padding is not 0")
                a = padded[:h, :w]  # cropped by ImageSize, as readers do
                if r == 0 and args.synthetic:
                    check(np.array_equal(a, syn.region(c, 0, 0, w, h)), f"{where}: differs from the fused blocks")
                if below is not None:
                    expect = syn.downsample(below)
                    check(np.array_equal(a, expect), f"{where}: not (a+b+c+d+2)//4 of level {r - 1}")
                    m = below[: 2 * h, : 2 * w].astype(np.float64)
                    mean = (m[0::2, 0::2] + m[0::2, 1::2] + m[1::2, 0::2] + m[1::2, 1::2]) / 4
                    check(np.abs(a - mean).max() <= 0.5, f"{where}: more than 0.5 from the 2x2 mean")
                for bins, suffix in [(256, ""), (1024, "1024")]:
                    lo, hi, counts = histogram(a, bins)
                    check(int(text(g, "HistogramMin" + suffix)) == lo and int(text(g, "HistogramMax" + suffix)) == hi,
                          f"{where}: HistogramMin/Max{suffix}")
                    check(np.array_equal(g["Histogram" + suffix][()], counts), f"{where}: Histogram{suffix} differs")
                below = a
            else:
                # Random windows, aligned so that level r's window is the 2x2 image of level r-1's.
                for _ in range(args.sample):
                    ww, hh = min(w, 2048), min(h, 2048)
                    x0 = int(rng.integers(0, w - ww + 1)) & ~1
                    y0 = int(rng.integers(0, h - hh + 1)) & ~1
                    ww, hh = min(ww, w - x0), min(hh, h - y0)
                    a = d[0, y0:y0 + hh, x0:x0 + ww]
                    if r == 0 and args.synthetic:
                        check(np.array_equal(a, syn.region(c, x0, y0, ww, hh)), f"{where}: window {x0},{y0} differs")
                    if r + 1 < len(plan):
                        nw, nh = plan[r + 1]
                        sub = f[f"DataSet/ResolutionLevel {r + 1}/TimePoint 0/Channel {c}/Data"]
                        ex0, ey0 = x0 // 2, y0 // 2
                        ew, eh = min(ww // 2, nw - ex0), min(hh // 2, nh - ey0)
                        if ew > 0 and eh > 0:
                            got = sub[0, ey0:ey0 + eh, ex0:ex0 + ew]
                            check(np.array_equal(got, syn.downsample(a)[:eh, :ew]),
                                  f"level {r + 1} channel {c}: window {ex0},{ey0} not the 2x2 image of level {r}")
                    bottom = d[0, h:, :2048] if h < d.shape[1] else np.zeros(1)
                    check(not bottom.any(), f"{where}: padding rows not 0")
                # Histograms: total = true pixel count (values not recomputed at this size).
                for suffix in ["", "1024"]:
                    check(int(g["Histogram" + suffix][()].sum()) == w * h, f"{where}: Histogram{suffix} total")
                below = None if r + 1 < len(plan) and plan[r + 1][0] * plan[r + 1][1] > args.full_max_px else \
                    d[0, :h, :w]

    if args.xml:
        root = ET.parse(args.xml).getroot()
        check(root.tag == "SpimData", "XML root is not SpimData")
        loader = root.find("SequenceDescription/ImageLoader")
        check(loader is not None and loader.get("format") == "ims", "ImageLoader format must be 'ims'")
        ims = loader.find("ims")
        check(ims is not None and ims.get("type") == "relative", "<ims type='relative'> missing")
        target = os.path.join(os.path.dirname(os.path.abspath(args.xml)), ims.text)
        check(os.path.samefile(target, args.ims), f"XML points at {ims.text}, not at the checked file")
        setups = root.findall("SequenceDescription/ViewSetups/ViewSetup")
        check(len(setups) == nc, f"{len(setups)} ViewSetups for {nc} channels")
        for s in setups:
            i = int(s.find("id").text)
            check(0 <= i < nc and f"DataSet/ResolutionLevel 0/TimePoint 0/Channel {i}" in f, f"setup {i}: no such channel")
            check(s.find("name").text == names[i], f"setup {i} name {s.find('name').text!r} != {names[i]!r}")
            check(s.find("size").text.split() == [str(X), str(Y), "1"], f"setup {i} size")
            vs = [float(v) for v in s.find("voxelSize/size").text.split()]
            check(all(abs(v - args.pixel_um) < 1e-12 for v in vs), f"setup {i} voxel size {vs}")
            # BigStitcher needs every view to name its illumination, channel, tile and angle,
            # each defined in an <Attributes> block.
            for attr in ("illumination", "channel", "tile", "angle"):
                el = s.find(f"attributes/{attr}")
                check(el is not None, f"setup {i}: no <{attr}> attribute")
                if el is not None:
                    ids = [e.text for e in root.findall(f"SequenceDescription/ViewSetups/Attributes[@name='{attr}']/*/id")]
                    check(el.text in ids, f"setup {i}: {attr} {el.text} not defined in <Attributes name='{attr}'> ({ids})")
        tp = root.find("SequenceDescription/Timepoints")
        check(tp.get("type") == "range" and tp.find("first").text == "0" and tp.find("last").text == "0", "Timepoints")
        regs = root.findall("ViewRegistrations/ViewRegistration")
        check(sorted(int(r.get("setup")) for r in regs) == list(range(nc)), "one ViewRegistration per setup")
        for r in regs:
            a = [float(v) for v in r.find("ViewTransform/affine").text.split()]
            check(len(a) == 12 and abs(a[0] - args.pixel_um) < 1e-12 and abs(a[5] - args.pixel_um) < 1e-12
                  and a[1] == a[2] == a[4] == 0, f"affine {a}")
            # The translation: the first pixel's centre (BigDataViewer maps voxel indices, i.e.
            # pixel centres), half a pixel inside the .ims ExtMin (that pixel's edge).
            half = args.pixel_um / 2
            check(len(a) == 12 and abs(a[3] - ext["ExtMin0"] - half) < 1e-9 and abs(a[7] - ext["ExtMin1"] - half) < 1e-9
                  and abs(a[11] - ext["ExtMin2"] - half) < 1e-9,
                  f"affine translation {a[3:12:4]} != ExtMin ({ext['ExtMin0']}, {ext['ExtMin1']}, {ext['ExtMin2']}) + half a pixel")

    if failures:
        print(f"{args.ims}: {len(failures)} failure(s):")
        for m in failures[:40]:
            print("  " + m)
        return 1
    print(f"{args.ims}: OK ({len(plan)} levels x {nc} channels, {X} x {Y} px, pixel {px[0]:g} um"
          f"{', sampled' if args.sample else ', every pixel'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
