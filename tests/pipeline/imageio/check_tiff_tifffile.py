#!/usr/bin/env python3
"""Independent check of annamosaic's TIFF writer with tifffile (Debian python3-tifffile).

Reads the files tiff_write_fixture wrote into FOLDER and checks shape, dtype, values,
compression/predictor and the pixel size tags (XResolution = 1e7 / 20 pixels per cm).
Exits 77 (ctest: skipped) when tifffile or numpy is not installed. tifffile decodes the
floating-point predictor (3) only with the imagecodecs package; without it the values of
float32_pred3.tif are not compared (its tags still are); float32.tif (the default, no float
predictor) carries the value check.
Usage: check_tiff_tifffile.py FOLDER
"""
import os
import sys

try:
    import numpy as np
    import tifffile
except ImportError as e:  # not a failure of the writer
    print(f"skipping: {e}")
    sys.exit(77)

PIXEL_NM = 20.0
CENTIMETER = 3
DEFLATE = 8
try:
    import imagecodecs  # noqa: F401  (tifffile uses it for predictor 3)
    HAVE_IMAGECODECS = True
except ImportError:
    HAVE_IMAGECODECS = False
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def check_scale(name, page):
    tags = page.tags
    num, den = tags["XResolution"].value
    check(abs(num / den - 1e7 / PIXEL_NM) < 1e-3, f"{name}: XResolution {num}/{den}")
    num, den = tags["YResolution"].value
    check(abs(num / den - 1e7 / PIXEL_NM) < 1e-3, f"{name}: YResolution {num}/{den}")
    check(int(tags["ResolutionUnit"].value) == CENTIMETER,
          f"{name}: ResolutionUnit {tags['ResolutionUnit'].value}")


def check_values(name, tif, expected):
    data = tif.asarray()
    check(data.shape == expected.shape, f"{name}: shape {data.shape} != {expected.shape}")
    check(data.dtype == expected.dtype, f"{name}: dtype {data.dtype} != {expected.dtype}")
    if data.shape == expected.shape:
        check(np.array_equal(data, expected), f"{name}: values differ")


def check_file(folder, name, expected, predictor=None, bigtiff=False):
    with tifffile.TiffFile(os.path.join(folder, name)) as tif:
        if predictor == 3 and not HAVE_IMAGECODECS:
            print(f"{name}: values not compared (predictor 3 needs imagecodecs); tags checked")
            series = tif.series[0]
            check(series.shape == expected.shape, f"{name}: shape {series.shape}")
            check(series.dtype == expected.dtype, f"{name}: dtype {series.dtype}")
        else:
            check_values(name, tif, expected)
        check(tif.is_bigtiff == bigtiff, f"{name}: is_bigtiff {tif.is_bigtiff}")
        check(tif.is_imagej, f"{name}: ImageDescription not recognised as ImageJ")
        check((tif.imagej_metadata or {}).get("unit") == "um",
              f"{name}: ImageJ unit {tif.imagej_metadata}")
        for page in tif.pages:
            check_scale(name, page)
            if predictor is None:  # uncompressed
                check(int(page.compression) == 1, f"{name}: compression {page.compression}")
            else:
                check(int(page.compression) == DEFLATE, f"{name}: compression {page.compression}")
                check(int(page.predictor) == predictor, f"{name}: predictor {page.predictor}")


def main(folder):
    y, x = np.mgrid[0:32, 0:48]
    f32 = (x + 100.0 * y + 0.25).astype(np.float32)
    f32[5, 3] -= 1000
    u16 = ((x * 1237 + y * 4099) % 65536).astype(np.uint16)
    stack = np.stack([np.tile(np.arange(16, dtype=np.float32) + p, (8, 1)) for p in range(3)])

    check_file(folder, "float32.tif", f32, predictor=1)
    check_file(folder, "float32_pred3.tif", f32, predictor=3)
    check_file(folder, "uint16.tif", u16, predictor=2)
    check_file(folder, "stack.tif", stack, bigtiff=True)

    for f in failures:
        print("FAIL:", f)
    print(f"tifffile {tifffile.__version__}: {'OK' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
