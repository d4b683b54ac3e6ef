#!/usr/bin/env python3
"""Independent check of the pyramidal OME-TIFF with tifffile (Debian python3-tifffile): it must
open as an OME pyramid with one level per IMS level, shapes (C, Y, X) halving like the IMS
levels, PhysicalSizeX/Y from the IMS pixel size, BigTIFF, 512 x 512 tiles, deflate (8) with
predictor 2, reduced levels as SubIFDs (NewSubfileType 1), and pixels equal to the IMS levels
(every pixel, or --sample N windows per level for big files).
Usage: check_ome_tiff.py OUT.ome.tif MOSAIC.ims [--sample N]
Exits 77 (ctest: skipped) when tifffile, h5py or numpy is missing.
"""
import argparse
import sys
import xml.etree.ElementTree as ET

try:
    import numpy as np
    import h5py
    import tifffile
except ImportError as e:
    print(f"skipping: {e}")
    sys.exit(77)

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def text(obj, name):
    return b"".join(np.asarray(obj.attrs[name]).ravel().tolist()).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tif")
    ap.add_argument("ims")
    ap.add_argument("--full-max-px", type=int, default=16 * 2**20,
                    help="with --sample, levels up to this many pixels are still compared in full")
    ap.add_argument("--sample", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(1)

    f = h5py.File(args.ims, "r")
    img = f["DataSetInfo/Image"]
    X = int(text(img, "X"))
    px_um = (float(text(img, "ExtMax0")) - float(text(img, "ExtMin0"))) / X
    nlev = len(f["DataSet"])
    nc = len(f["DataSet/ResolutionLevel 0/TimePoint 0"])
    sizes = []
    for r in range(nlev):
        g = f[f"DataSet/ResolutionLevel {r}/TimePoint 0/Channel 0"]
        sizes.append((int(text(g, "ImageSizeY")), int(text(g, "ImageSizeX"))))

    with tifffile.TiffFile(args.tif) as tf:
        check(tf.is_bigtiff, "not a BigTIFF")
        check(tf.is_ome, "tifffile does not see OME-XML")
        s = tf.series[0]
        check(len(s.levels) == nlev, f"{len(s.levels)} pyramid levels, expected {nlev}")
        for r, lev in enumerate(s.levels):
            expect = (nc, *sizes[r]) if nc > 1 else sizes[r]
            check(tuple(lev.shape) == tuple(expect), f"level {r}: shape {lev.shape}, expected {expect}")
            check(lev.dtype == np.uint16, f"level {r}: dtype {lev.dtype}")
        ome = ET.fromstring(tf.ome_metadata)
        ns = {"o": "http://www.openmicroscopy.org/Schemas/OME/2016-06"}
        pixels = ome.find("o:Image/o:Pixels", ns)
        check(pixels is not None, "no OME Pixels element")
        check(abs(float(pixels.get("PhysicalSizeX")) - px_um) < 1e-12, f"PhysicalSizeX {pixels.get('PhysicalSizeX')}")
        check(abs(float(pixels.get("PhysicalSizeY")) - px_um) < 1e-12, f"PhysicalSizeY {pixels.get('PhysicalSizeY')}")
        check(int(pixels.get("SizeC")) == nc, "SizeC")
        for pl in pixels.findall("o:Plane", ns):  # the stage position: the .ims ExtMin
            check(abs(float(pl.get("PositionX")) - float(text(img, "ExtMin0"))) < 1e-9
                  and abs(float(pl.get("PositionY")) - float(text(img, "ExtMin1"))) < 1e-9,
                  f"Plane position {pl.get('PositionX')}, {pl.get('PositionY')} != ExtMin")
        check(len(pixels.findall("o:Plane", ns)) == nc, "one Plane (with the stage position) per channel")
        chans = pixels.findall("o:Channel", ns)
        # The 2016-06 schema's Channel sequence (a validating reader refuses another order).
        schema_order = ["LightSourceSettings", "DetectorSettings", "FilterSetRef", "AnnotationRef", "LightPath"]
        for c, ch in enumerate(chans):
            check(ch.get("Name") == text(f[f"DataSetInfo/Channel {c}"], "Name"), f"channel {c} name")
            ranks = [schema_order.index(e.tag.split("}")[1]) for e in ch]
            check(ranks == sorted(ranks), f"channel {c}: children {[e.tag.split('}')[1] for e in ch]} out of the schema's order")
        # What the .ims says of the mosaic, in the OME-TIFF too: its description and its
        # annamosaic attributes (QC) as the Image's MapAnnotation.
        image = ome.find("o:Image", ns)
        if "Description" in img.attrs and text(img, "Description"):
            d = image.find("o:Description", ns)
            check(d is not None and d.text == text(img, "Description"), "Image Description differs from the .ims")
            check(list(image).index(d) < list(image).index(pixels), "Description after Pixels (the schema: before)")
        if "DataSetInfo/Annamosaic" in f:
            ims_attrs = {k: text(f["DataSetInfo/Annamosaic"], k) for k in f["DataSetInfo/Annamosaic"].attrs}
            ref = image.find("o:AnnotationRef", ns)
            check(ref is not None, "no AnnotationRef on the Image for the mosaic's attributes")
            maps = {m.get("ID"): m for m in ome.iter("{%s}MapAnnotation" % ns["o"])}
            m = maps.get(ref.get("ID")) if ref is not None else None
            check(m is not None and m.get("Namespace") == "annamosaic/mosaic", "the Image's MapAnnotation is missing")
            if m is not None:
                got = {e.get("K"): e.text or "" for e in m.find("o:Value", ns)}
                check(got == ims_attrs, f"mosaic MapAnnotation {len(got)} keys differ from /DataSetInfo/Annamosaic "
                      f"({len(ims_attrs)}): {sorted(set(got) ^ set(ims_attrs))[:5]}")
        check(len(tf.pages) == nc, f"{len(tf.pages)} top-level IFDs, expected {nc} (one per channel)")
        for i in range(len(tf.pages)):
            p = tf.pages.get(i, aspage=True)  # a full TiffPage (tags), not a light-weight TiffFrame
            check(p.is_tiled and p.tilewidth == 512 and p.tilelength == 512, "tiles must be 512 x 512")
            check(p.compression == 8 and p.predictor == 2, f"compression {p.compression} predictor {p.predictor}")
            subs = p.tags.get("SubIFDs")
            check(nlev == 1 or (subs is not None and len(subs.value) == nlev - 1), "SubIFDs missing")
        for r, lev in enumerate(s.levels):
            if r > 0:
                check(lev.keyframe.subfiletype == 1, f"level {r}: NewSubfileType {lev.keyframe.subfiletype}")
            h, w = sizes[r]
            if args.sample == 0 or h * w <= args.full_max_px:
                a = lev.asarray()
                a = a.reshape(nc, h, w)
                for c in range(nc):
                    ref = f[f"DataSet/ResolutionLevel {r}/TimePoint 0/Channel {c}/Data"][0, :h, :w]
                    check(np.array_equal(a[c], ref), f"level {r} channel {c}: pixels differ from the IMS")
            else:
                # Decode single tiles with tifffile's own codec path instead of whole pages.
                fh = tf.filehandle
                for c in range(nc):
                    page = lev.pages[c]
                    page = page if hasattr(page, "decode") else page.aspage()
                    tiles_x = -(-w // 512)
                    for index in rng.integers(0, len(page.dataoffsets), args.sample):
                        index = int(index)
                        fh.seek(page.dataoffsets[index])
                        tile = page.decode(fh.read(page.databytecounts[index]), index)[0]
                        ty, tx = divmod(index, tiles_x)
                        y0, x0 = ty * 512, tx * 512
                        ref = f[f"DataSet/ResolutionLevel {r}/TimePoint 0/Channel {c}/Data"][0, y0:min(h, y0 + 512),
                                                                                           x0:min(w, x0 + 512)]
                        got = np.asarray(tile).reshape(512, 512)[:ref.shape[0], :ref.shape[1]]
                        check(np.array_equal(got, ref), f"level {r} channel {c}: tile {index} differs")
    if failures:
        print(f"{args.tif}: {len(failures)} failure(s):")
        for m in failures[:40]:
            print("  " + m)
        return 1
    print(f"{args.tif}: OK ({nlev} levels x {nc} channels, pixel {px_um:g} um)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
