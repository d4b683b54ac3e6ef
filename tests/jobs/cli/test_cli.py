"""End-to-end tests of `annamosaic render`, `table-info`, configuration and errors, as a user runs
them. Outputs are read back with numpy and tifffile (Debian packages), not with our code."""
import csv, os, shutil, subprocess, unittest
import numpy as np
import tifffile

BIN = os.environ["ANNAMOSAIC_BIN"]
DATA = os.environ["ANNAMOSAIC_TEST_DATA"]
TMP = os.environ["ANNAMOSAIC_TEST_TMP"]
EPFL = os.path.join(DATA, "epfl2013-bundled-tubes-hd-groundtruth.csv")


def run(*args, check=None):
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if check is not None and p.returncode != check:
        raise AssertionError(f"exit {p.returncode} (wanted {check}) for {args}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


def load_epfl():
    with open(EPFL) as f:
        rows = list(csv.reader(f))[1:]
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1], a[:, 2]


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = os.path.join(TMP, self.id().split(".")[-1])
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def test_version_lists_every_library(self):
        out = run("--version", check=0).stdout
        for lib in ("MPI", "HDF5", "parallel", "libtiff", "TBB", "Boost", "FFT", "LibTorch"):
            self.assertIn(lib, out)

    def test_every_command_has_help(self):
        for cmd in ("render", "table-info"):
            out = run(cmd, "--help", check=0).stdout
            self.assertIn("usage: annamosaic " + cmd, out)
            self.assertIn("--config", out)

    def test_render_matches_numpy_histogram(self):
        out = os.path.join(self.dir, "sparse.tif")
        p = run("render", EPFL, "--pixel-nm", "20", "--frames", "first:36", "-o", out, check=0)
        self.assertIn("rendered", p.stderr)
        f, x, y = load_epfl()
        sel = f < 1 + 36  # the table is 1-based: frames 1..36
        img = tifffile.imread(out)
        x0, y0 = np.floor(x.min() / 20) * 20, np.floor(y.min() / 20) * 20
        h, w = img.shape
        self.assertEqual(img.dtype, np.float32)
        ref, _, _ = np.histogram2d(y[sel], x[sel], bins=[y0 + 20 * np.arange(h + 1), x0 + 20 * np.arange(w + 1)])
        self.assertEqual(img.sum(), sel.sum())
        np.testing.assert_array_equal(img, ref.astype(np.float32))
        with tifffile.TiffFile(out) as t:
            tags = t.pages[0].tags
            xres = tags["XResolution"].value
            self.assertAlmostEqual(xres[0] / xres[1], 1e7 / 20, delta=1e-3)  # pixels per cm
        png = os.path.join(self.dir, "sparse.png")
        with open(png, "rb") as fh:
            self.assertEqual(fh.read(8), b"\x89PNG\r\n\x1a\n")
        cfg = open(os.path.join(self.dir, "sparse.config.ini")).read()
        self.assertIn("[render]", cfg)
        self.assertIn("frames = first:36", cfg)
        self.assertIn("pixel-nm = 20", cfg)

    def test_uint16_output(self):
        out = os.path.join(self.dir, "dense16.tif")
        run("render", EPFL, "--pixel-nm", "50", "--format", "uint16", "--no-preview", "-o", out, check=0)
        img = tifffile.imread(out)
        self.assertEqual(img.dtype, np.uint16)
        self.assertEqual(int(img.sum()), 81178)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "dense16.png")))

    def test_config_file_and_command_line_precedence(self):
        ini = os.path.join(self.dir, "c.ini")
        with open(ini, "w") as fh:
            fh.write("threads = 1\n[render]\npixel-nm = 40\nframes = 0:10\nno-preview = true\n[table-info]\ncolumns = frame=frame,x=x,y=y\n")
        out = os.path.join(self.dir, "c.tif")
        run("render", EPFL, "--config", ini, "--pixel-nm", "100", "-o", out, check=0)
        cfg = open(os.path.join(self.dir, "c.config.ini")).read()
        self.assertIn("pixel-nm = 100", cfg)  # command line wins
        self.assertIn("frames = 0:10", cfg)   # from the file
        f, _, _ = load_epfl()
        self.assertEqual(tifffile.imread(out).sum(), (f < 11).sum())

    def test_unknown_option_and_bad_value_name_the_option(self):
        ini = os.path.join(self.dir, "bad.ini")
        with open(ini, "w") as fh:
            fh.write("[render]\npixel-size = 20\n")
        p = run("render", EPFL, "--config", ini, "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertIn("bad.ini", p.stderr)
        self.assertIn("pixel-size", p.stderr)
        p = run("render", EPFL, "--pixel-nm", "abc", "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertIn("pixel-nm", p.stderr)
        p = run("render", EPFL, "--bogus", check=1)
        self.assertIn("bogus", p.stderr)
        p = run("render", EPFL, "--frames", "9:3", "-o", os.path.join(self.dir, "x.tif"), check=2)
        self.assertIn("empty", p.stderr)
        self.assertEqual(os.listdir(self.dir), ["bad.ini"])  # nothing written

    def test_malformed_table_names_file_and_line_and_leaves_no_output(self):
        bad = os.path.join(self.dir, "bad.csv")
        with open(bad, "w") as fh:
            fh.write("frame,x [nm],y [nm]\n1,10,20\n2,oops,30\n")
        out = os.path.join(self.dir, "o.tif")
        p = run("render", bad, "-o", out, check=2)
        self.assertIn("bad.csv:3: column 2", p.stderr)
        self.assertFalse(os.path.exists(out))
        p = run("render", bad, "--skip-bad-rows", "-o", out, check=0)
        self.assertIn("skipped 1 malformed rows", p.stderr)
        self.assertEqual(tifffile.imread(out).sum(), 1)

    def test_missing_input_is_io_error(self):
        p = run("table-info", "/nonexistent/x.csv", check=3)
        self.assertIn("/nonexistent/x.csv", p.stderr)

    def test_table_info_on_every_shared_file(self):
        expected = {"thunderstorm-3d-export.csv": 11195, "u2os-microtubule-single-lume.csv": 2848,
                    "epfl2013-bundled-tubes-hd-groundtruth.csv": 81178, "deepstorm-demo1-thunderstorm.csv": 4956}
        for name, rows in expected.items():
            out = run("table-info", os.path.join(DATA, name), "-q", check=0).stdout
            self.assertIn(f"rows          {rows}", out)


if __name__ == "__main__":
    unittest.main()
