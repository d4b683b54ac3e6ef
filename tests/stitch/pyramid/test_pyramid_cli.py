#!/usr/bin/env python3
"""End-to-end tests of `annamosaic inspect` and `annamosaic export` on a synthetic mosaic,
checked with independent readers (h5py, tifffile). Environment: ANNAMOSAIC_BIN (the binary, or
the stand-in with just these commands), WRITE_SYNTHETIC_IMS, ANNAMOSAIC_TEST_TMP."""
import os
import subprocess
import sys
import unittest

import h5py
import numpy as np
import tifffile

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ["ANNAMOSAIC_BIN"]
TMP = os.environ["ANNAMOSAIC_TEST_TMP"]
IMS = os.path.join(TMP, "cli", "mosaic.ims")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True)


def setUpModule():
    os.makedirs(os.path.dirname(IMS), exist_ok=True)
    subprocess.run([os.environ["WRITE_SYNTHETIC_IMS"], "--out", IMS, "--width", "4100", "--height", "2600",
                    "--channels", "3"], check=True, capture_output=True)


class Inspect(unittest.TestCase):
    def test_describes_levels_channels_pixel_size_ranges_and_qc(self):
        r = run("inspect", IMS)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("3 channel(s), 4 level(s), uint16", out)
        self.assertIn("shuffle, deflate(2)", out)
        self.assertIn("pixel size: 0.02 x 0.02 um", out)
        # Where the mosaic lies on the stage, as ExtMin says it (a solved layout moves it off 0).
        with h5py.File(IMS, "r") as f:
            ext_min = [float(b"".join(f["DataSetInfo/Image"].attrs["ExtMin%d" % k]).decode()) for k in (0, 1)]
        # To the digits the file holds (6 significant ones lost a pixel at 12 mm, probe94).
        self.assertIn("covers 82 x 52 um from (%.12g, %.12g) um" % tuple(ext_min), out)
        self.assertIn("4100 x 2600", out)
        self.assertIn("512 x 325", out)  # level 3
        self.assertIn('1 "error map"', out)
        self.assertIn("scale 1000", out)
        self.assertIn("(value ", out)  # quantised error map shown in its own units
        self.assertIn("QC generator: write_synthetic_ims", out)
        self.assertIn("PyramidRule:", out)

    def test_errors_have_exit_codes(self):
        self.assertEqual(run("inspect", os.path.join(TMP, "cli", "none.ims")).returncode, 3)
        junk = os.path.join(TMP, "cli", "junk.ims")
        with open(junk, "w") as f:
            f.write("not an hdf5 file")
        r = run("inspect", junk)
        self.assertEqual(r.returncode, 2)
        self.assertIn(junk, r.stderr)
        # A folder, or a TIFF, is named as what it is (not HDF5's internals).
        r = run("inspect", os.path.join(TMP, "cli"))
        self.assertEqual(r.returncode, 3)
        self.assertIn("is a folder; give the mosaic file", r.stderr)
        tif = os.path.join(TMP, "cli", "plain.tif")
        with open(tif, "wb") as f:
            f.write(b"II*\x00" + bytes(100))
        r = run("inspect", tif)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is a TIFF, not an Imaris (.ims) mosaic", r.stderr)
        self.assertNotIn("HDF5-DIAG", r.stderr)


    def test_a_copy_rewritten_by_h5py_reads_the_same(self):
        # h5py writes string attributes as variable-length UTF-8 (Imaris writes ASCII char
        # arrays): a mosaic whose attributes a Python tool rewrote is read the same.
        copy = os.path.join(TMP, "cli", "rewritten.ims")
        with h5py.File(IMS, "r") as src, h5py.File(copy, "w") as dst:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and obj.size < 100000:
                    dst.create_dataset(name, data=obj[()])
                elif isinstance(obj, h5py.Group):
                    dst.require_group(name)
                else:  # the big levels: a small stand-in keeps the test fast
                    dst.create_dataset(name, shape=obj.shape, dtype=obj.dtype, chunks=obj.chunks)
                for k, v in obj.attrs.items():
                    dst[name].attrs[k] = b"".join(v).decode() if v.dtype.kind == "S" else v
            src.visititems(visit)
            for k, v in src.attrs.items():
                dst.attrs[k] = b"".join(v).decode() if v.dtype.kind == "S" else v
        with h5py.File(copy, "r") as f:
            self.assertTrue(h5py.check_string_dtype(f["DataSet/ResolutionLevel 0/TimePoint 0/Channel 0"].attrs.get_id("ImageSizeX").dtype))
        a, b = run("inspect", IMS), run("inspect", copy)
        self.assertEqual(b.returncode, 0, b.stderr)
        self.assertIn("4100 x 2600", b.stdout)
        self.assertIn("pixel size: 0.02 x 0.02 um", b.stdout)
        self.assertIn('1 "error map"', b.stdout)


class Export(unittest.TestCase):
    def test_ome_tiff_pyramid(self):
        out = os.path.join(TMP, "cli", "mosaic.ome.tif")
        # What an export killed with kill -9 left (its process is gone) goes with the next export.
        dead = subprocess.Popen(["true"])
        dead.wait()
        leftover = f"{out}.tmp.{dead.pid}"
        with open(leftover, "wb") as f:
            f.write(bytes(1000))
        stale = os.path.join(TMP, "cli", "mosaic.config.ini")  # an earlier build's name for it
        if os.path.exists(stale):
            os.remove(stale)
        r = run("export", IMS, "--ome-tiff", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(leftover))
        # Its configuration beside it, not over a stitched mosaic.ims's mosaic.config.ini.
        self.assertTrue(os.path.exists(os.path.join(TMP, "cli", "mosaic.ome.config.ini")))
        self.assertFalse(os.path.exists(os.path.join(TMP, "cli", "mosaic.config.ini")))
        # ... which makes the same export again (its level 0 and channel 0 are no region options).
        os.remove(out)
        r = run("export", "--config", os.path.join(TMP, "cli", "mosaic.ome.config.ini"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(out))
        chk = subprocess.run([sys.executable, os.path.join(HERE, "check_ome_tiff.py"), out, IMS],
                             capture_output=True, text=True)
        self.assertEqual(chk.returncode, 0, chk.stdout + chk.stderr)

    def test_region_to_tiff_keeps_values_and_pixel_size(self):
        out = os.path.join(TMP, "cli", "crop.tif")
        r = run("export", IMS, "--region", "1001,501,1999,999", "--level", "1", "--channel", "error map", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with tifffile.TiffFile(out) as tf:
            a = tf.pages[0].asarray()
            xres = tf.pages[0].tags["XResolution"].value
            imagej = tf.imagej_metadata
        # level-1 pixels touching level-0 x [1001, 3000), y [501, 1500): x [500, 1500), y [250, 750)
        with h5py.File(IMS, "r") as f:
            ref = f["DataSet/ResolutionLevel 1/TimePoint 0/Channel 1/Data"][0, 250:750, 500:1500]
            ext_min = [float(b"".join(f["DataSetInfo/Image"].attrs["ExtMin%d" % k]).decode()) for k in (0, 1)]
        # Fiji places the crop where it lies on the stage: calibrated x = (x - xorigin) * 0.04 um.
        self.assertAlmostEqual(imagej["xorigin"], -(ext_min[0] / 0.04 + 500), places=3)
        self.assertAlmostEqual(imagej["yorigin"], -(ext_min[1] / 0.04 + 250), places=3)
        self.assertEqual(a.shape, (500, 1000))
        self.assertTrue(np.array_equal(a, ref))
        self.assertAlmostEqual(xres[0] / xres[1], 1e7 / 40.0, places=3)  # 40 nm pixels at level 1, per cm

    def test_region_of_a_thin_mosaic_at_a_coarse_level_lies_where_it_is(self):
        # 9000 x 300 px: level 4 is 562 x 18, a size ratio of 16.7 in y. The rows were taken as
        # 300 / 18 rounded = 17 level-0 rows each, and the crop began a row early (probe46).
        thin = os.path.join(TMP, "cli", "thin.ims")
        subprocess.run([os.environ["WRITE_SYNTHETIC_IMS"], "--out", thin, "--width", "9000", "--height", "300",
                        "--channels", "1"], check=True, capture_output=True)
        out = os.path.join(TMP, "cli", "thin-crop.tif")
        r = run("export", thin, "--level", "4", "--region", "0,200,16,40", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pixels x [0, 1), y [12, 15)", r.stderr)  # level-0 rows 200..240 / 16
        with h5py.File(thin, "r") as f:
            ref = f["DataSet/ResolutionLevel 4/TimePoint 0/Channel 0/Data"][0, 12:15, 0:1]
            ext_min = [float(b"".join(f["DataSetInfo/Image"].attrs["ExtMin%d" % k]).decode()) for k in (0, 1)]
        with tifffile.TiffFile(out) as tf:
            self.assertTrue(np.array_equal(tf.pages[0].asarray(), ref))
            self.assertAlmostEqual(tf.imagej_metadata["yorigin"], -(ext_min[1] / 0.32 + 12), places=3)
        self.assertIn("0.32", run("inspect", thin).stdout)  # level 4's pixel: 16 x 0.02 um

    def test_level_to_png_preview(self):
        out = os.path.join(TMP, "cli", "overview.png")
        r = run("export", IMS, "--level", "3", "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        # The same region as a TIFF too: each keeps its own record of how it was made.
        self.assertEqual(run("export", IMS, "--level", "3", "-o", out[:-4] + ".tif").returncode, 0)
        with open(out + ".config.ini") as f:
            self.assertIn("overview.png", f.read())
        with open(out[:-4] + ".config.ini") as f:
            self.assertIn("overview.tif", f.read())

    def test_a_png_larger_than_a_preview_says_its_real_size(self):
        out = os.path.join(TMP, "cli", "level0.png")
        r = run("export", IMS, "-o", out)  # level 0: 4100 x 2600 px, shrunk by 3 to fit 2048
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            head = f.read(24)
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")  # IHDR
        self.assertEqual((width, height), (1367, 867))
        self.assertIn("a preview of the 4100 x 2600 px region, each 3 x 3 block shown by its maximum (1367 x 867 px", r.stderr)
        self.assertIn("-o OUT.tif keeps every pixel", r.stderr)

    def test_usage_errors(self):
        o = os.path.join(TMP, "cli", "x.tif")
        self.assertEqual(run("export", IMS).returncode, 1)
        self.assertEqual(run("export", IMS, "--ome-tiff", o, "-o", o).returncode, 1)
        self.assertEqual(run("export", IMS, "--level", "9", "-o", o).returncode, 1)
        self.assertEqual(run("export", IMS, "--channel", "nope", "-o", o).returncode, 1)
        self.assertEqual(run("export", IMS, "--region", "1,2,3", "-o", o).returncode, 1)
        self.assertEqual(run("export", IMS, "--region", "99999,0,10,10", "-o", o).returncode, 1)
        self.assertEqual(run("export", IMS, "-o", os.path.join(TMP, "cli", "x.jpg")).returncode, 1)
        self.assertEqual(run("export", IMS, "--threads", "-2", "-o", o).returncode, 1)
        # Names that promise another format: an OME-TIFF not named .ome.tif, a plain region named so.
        self.assertIn("name it .ome.tif", run("export", IMS, "--ome-tiff", os.path.join(TMP, "cli", "m.png")).stderr)
        self.assertIn("a region is a plain TIFF", run("export", IMS, "-o", os.path.join(TMP, "cli", "r.ome.tif")).stderr)
        # Exporting onto the mosaic itself is refused before anything is written.
        before = os.path.getsize(IMS)
        p = run("export", IMS, "--ome-tiff", IMS)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(os.path.getsize(IMS), before)
        link = os.path.join(TMP, "cli", "link.ome.tif")  # the mosaic under an OME-TIFF's name
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(IMS, link)
        p = run("export", link, "--ome-tiff", link)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("would overwrite the input", p.stderr)
        self.assertEqual(os.path.getsize(IMS), before)


if __name__ == "__main__":
    unittest.main()
