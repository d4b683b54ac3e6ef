"""End-to-end tests of `annamosaic render`, `table-info`, configuration and errors, as a user runs
them. Outputs are read back with numpy and tifffile (Debian packages), not with our code."""
import csv, json, os, re, shutil, subprocess, unittest
import h5py
import numpy as np
import tifffile

BIN = os.environ["ANNAMOSAIC_BIN"]
DATA = os.environ["ANNAMOSAIC_TEST_DATA"]
TMP = os.environ["ANNAMOSAIC_TEST_TMP"]
EPFL = os.path.join(DATA, "epfl2013-bundled-tubes-hd-groundtruth.csv")


def run(*args, check=None, cwd=None, timeout=None):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError(f"exit {p.returncode} (wanted {check}) for {args}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


def text_of(path):
    with open(path) as f:
        return f.read()


def replace_in(path, old, new):
    """Edits a file as a user would: `old` (which must be there) becomes `new`; returns the text before."""
    text = text_of(path)
    assert old in text, (path, old)
    with open(path, "w") as f:
        f.write(text.replace(old, new))
    return text


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
        for lib in ("MPI", "HDF5", "parallel", "libtiff", "libpng", "libdeflate", "TBB", "Boost", "FFT", "LibTorch"):
            self.assertIn(lib, out)

    def test_every_command_has_help(self):
        for cmd in ("simulate", "render", "table-info"):
            out = run(cmd, "--help", check=0).stdout
            self.assertIn("usage: annamosaic " + cmd, out)
            self.assertIn("--config", out)
        self.assertEqual(run("help", "render", check=0).stdout, run("render", "--help", check=0).stdout)
        # Defaults as they were written, not as binary fractions print.
        out = run("simulate", "--help", check=0).stdout
        self.assertIn("(=0.3)", out)
        self.assertNotIn("0.29999", out)
        p = run("rendr", check=1)
        self.assertIn("unknown command 'rendr'; did you mean 'render'?", p.stderr)

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
        # Where the image lies: in the TIFF and the configuration; with it, the same image again.
        field = f"{x0:g},{y0:g},{w * 20:g},{h * 20:g}"
        self.assertIn(f"field-nm = {field}", tifffile.TiffFile(out).pages[0].description)
        # Fiji shows the table's coordinates: calibrated x = (x - xorigin) * 0.02 um.
        with tifffile.TiffFile(out) as t:
            self.assertAlmostEqual(t.imagej_metadata["xorigin"], -x0 / 20, places=6)
            self.assertAlmostEqual(t.imagej_metadata["yorigin"], -y0 / 20, places=6)
        self.assertIn(f"# field rendered (from the table's extent): field-nm = {field}", cfg)
        again = os.path.join(self.dir, "again.tif")
        run("render", EPFL, "--pixel-nm", "20", "--frames", "first:36", "--field-nm", field, "-o", again, check=0)
        np.testing.assert_array_equal(tifffile.imread(again), img)

    def test_an_image_larger_than_the_memory_allowed_is_said_as_such(self):
        # A table 20 um wide and 20 mm tall (a unit slip in y) renders a 4 GB image: under a 3 GB
        # address-space limit (a job's memory limit) it once said "internal error: std::bad_alloc"
        # (probe95). Now the environment's error, exit 3, with what to check; nothing written.
        import resource
        rng = np.random.default_rng(1)
        table = os.path.join(self.dir, "tall.csv")
        n = 5000
        np.savetxt(table, np.c_[rng.integers(1, 100, n), rng.uniform(0, 2e4, n), rng.uniform(0, 2e7, n)], delimiter=",",
                   header="frame,x [nm],y [nm]", comments="", fmt=["%d", "%.2f", "%.2f"])
        out = os.path.join(self.dir, "tall.tif")
        limit = 3 * 1024 ** 3
        p = subprocess.run([BIN, "render", table, "-o", out, "--threads", "1"], capture_output=True, text=True,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("1000 x 999666 px at 20 nm", p.stderr)  # what was being made, in the log above
        self.assertRegex(p.stderr, r"render: error: out of memory \(std::bad_alloc\), peak \d+ MB resident: an image or "
                                   r"table larger than the memory this process may use")
        self.assertNotIn("internal error", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_micrometres_without_a_unit_are_said_not_drawn_silently(self):
        # The EPFL table in um under a header that names no unit: read as nm, it is a 6 nm speck.
        f, x, y = load_epfl()
        table = os.path.join(self.dir, "um_no_unit.csv")
        with open(table, "w") as fh:
            fh.write("frame,x,y\n")
            for i in range(len(f)):
                fh.write(f"{int(f[i])},{x[i] / 1000:.5f},{y[i] / 1000:.5f}\n")
        p = run("render", table, "-o", os.path.join(self.dir, "um.tif"), check=0)
        self.assertIn("read as nm because the header names no unit for x and y: if they are micrometres", p.stderr)
        p = run("table-info", table, check=0)
        self.assertIn("(no unit in the header: read as nm; --xy-unit)", p.stdout)
        # The frame span (what a frame window counts in) and the frames that hold localizations.
        self.assertIn(f"frames        1 .. 361 (base 1: a span of 361 frames, {len(set(f.astype(int)))} of them with "
                      "localizations)", p.stdout)
        self.assertIn("optional      none (z, intensity, uncertainty)\n", p.stdout)
        self.assertIn("--xy-unit um", p.stderr)
        p = run("render", table, "--xy-unit", "um", "-o", os.path.join(self.dir, "um2.tif"), check=0)
        self.assertNotIn("--xy-unit um", p.stderr)
        # A far outlier: render refuses it (it sizes the image), table-info warns.
        with open(table, "a") as fh:
            fh.write("1,90000,3\n")
        p = run("table-info", table, "--xy-unit", "um", check=0)
        self.assertIn("lie far outside the others", p.stderr)

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
        # A rerun from that record replaces it with the same settings ...
        record = os.path.join(self.dir, "c.config.ini")
        run("render", EPFL, "--config", record, "-o", out, check=0)
        self.assertEqual(text_of(record), cfg)
        # ... but a hand-written --config under the record's name is refused before any work, for
        # every command that writes such a record (probe102: it was replaced, comments and all).
        mine = "# keep me\n[render]\npixel-nm = 40\n"
        with open(record, "w") as fh:
            fh.write(mine)
        before = os.stat(out).st_mtime_ns
        p = run("render", EPFL, "--config", record, "-o", out, check=1)
        self.assertIn("--config %s is where this command writes its record of the settings" % record, p.stderr)
        self.assertEqual((text_of(record), os.stat(out).st_mtime_ns), (mine, before))
        for cmd in (["reconstruct", "--model", "anet-microtubules-ngf16.h5", "--table", EPFL, "-o", out],
                    ["stitch", self.dir, "--tiles", "{id}.tif", "-o", os.path.join(self.dir, "c.ims")],
                    ["evaluate", "--model", "anet-microtubules-ngf16.h5", "-o", self.dir, "--table", EPFL],
                    ["train", "--dataset", EPFL, "-o", os.path.join(self.dir, "c.h5"), "--dry-run"],
                    ["simulate", "-o", os.path.join(self.dir, "simc"), "--rows", "1", "--cols", "1"]):
            mine_here = os.path.join(self.dir, {"evaluate": "evaluate.config.ini",
                                                "simulate": "simc/simulate.config.ini"}.get(cmd[0], "c.config.ini"))
            os.makedirs(os.path.dirname(mine_here), exist_ok=True)
            with open(mine_here, "w") as fh:
                fh.write("# keep me\n")
            p = run(*cmd, "--config", mine_here, check=1)
            self.assertIn("is where this command writes its record of the settings", p.stderr)
            self.assertEqual(text_of(mine_here), "# keep me\n")
        os.remove(os.path.join(self.dir, "evaluate.config.ini"))
        # A file from a Windows editor (byte-order mark, CRLF) with comments after values and ';'
        # comment lines; a '#' inside a path is part of it.
        os.makedirs(os.path.join(self.dir, "run#2"), exist_ok=True)
        with open(ini, "wb") as fh:
            fh.write(b"\xef\xbb\xbf; made by hand\r\n[render]\r\npixel-nm = 40  # coarse\r\nframes = 0:10 ; first ones\r\n"
                     b"output = run#2/c.tif\r\n")
        run("render", EPFL, "--config", ini, check=0, cwd=self.dir)
        self.assertEqual(tifffile.imread(os.path.join(self.dir, "run#2", "c.tif")).sum(), (f < 11).sum())
        # Shell syntax is not taken literally: refused, naming the line (quotes are read as a shell reads them).
        for line, expected in [('output = "c 2.tif', "c.ini:2: the value of 'output' opens a quote"),
                               ("output = ~/c.tif", "c.ini:2: the value of 'output' starts with '~'"),
                               ("output = $HOME/c.tif", "holds a shell variable"),
                               ("pixel-nm =", "c.ini:2: 'pixel-nm' has no value: give one, or remove the line")]:
            with open(ini, "w") as fh:
                fh.write("[render]\n%s\n" % line)
            p = run("render", EPFL, "--config", ini, "-o", os.path.join(self.dir, "q.tif"), check=1, cwd=self.dir)
            self.assertIn(expected, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "~")))
        # A refused value says the form expected; a negative count is not wrapped round; an empty
        # path is named; another command's key in this section says whose it is.
        for line, expected in [("pixel-nm = 12,5", "c.ini:2: the argument ('12,5') for option 'pixel-nm' is invalid: expected a "
                                "number with a decimal point '.', without a unit"),
                               ("seed = -1", "c.ini:2: --seed must be 0 or more, not -1"),
                               ("fov-um = 10", "c.ini:2: unknown option 'fov-um' in section [render] for 'annamosaic render' "
                                "(an option of init-campaign, simulate); a campaign's fov-um is in its campaign.ini")]:
            with open(ini, "w") as fh:
                fh.write("[render]\n%s\n" % line)
            p = run("render", EPFL, "--config", ini, "-o", os.path.join(self.dir, "q.tif"), check=1, cwd=self.dir)
            self.assertIn(expected, p.stderr)
        p = run("render", EPFL, "--pixel-nm", "20nm", "-o", os.path.join(self.dir, "q.tif"), check=1)
        self.assertIn("expected a number with a decimal point '.', without a unit", p.stderr)
        p = run("render", EPFL, "-o", "", check=1)
        self.assertIn("--output is empty", p.stderr)

    def test_unknown_option_and_bad_value_name_the_option(self):
        ini = os.path.join(self.dir, "bad.ini")
        with open(ini, "w") as fh:
            fh.write("[render]\npixel-size = 20\n")
        p = run("render", EPFL, "--config", ini, "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertIn("bad.ini:2: unknown option 'pixel-size'", p.stderr)
        # Every config error names the line to fix: a bad value, a repeated key, a malformed line.
        for text, expected in [("# frames\n[render]\n\npixel-nm = abc\n", "bad.ini:4: the argument ('abc')"),
                               ("[render]\npixel-nm = 10\nframes = 0:5\npixel-nm = 20\n", "bad.ini:2,4: option 'pixel-nm'"),
                               ("[render]\npixel-nm 20\n", "bad.ini:2: 'pixel-nm 20' is not 'key = value'"),
                               ("[campaign]\nrows = 2\n", "describes a campaign ([campaign]): pass its folder with --campaign")]:
            with open(ini, "w") as fh:
                fh.write(text)
            p = run("render", EPFL, "--config", ini, "-o", os.path.join(self.dir, "x.tif"), check=1)
            self.assertIn(expected, p.stderr)
        p = run("render", EPFL, "--pixel-nm", "abc", "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertIn("pixel-nm", p.stderr)
        p = run("render", EPFL, "--bogus", check=1)
        self.assertIn("bogus", p.stderr)
        # A missing argument shows the usage line, not an internal option name.
        p = run("table-info", check=1)
        self.assertIn("missing argument; usage: annamosaic table-info TABLE", p.stderr)
        self.assertNotIn("--input", p.stderr)
        p = run("render", EPFL, "--frames", "9:3", "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertIn("empty", p.stderr)
        # A value checked after parsing still points at the file's line; one typed is not annotated.
        with open(ini, "w") as fh:
            fh.write("[render]\npixel-nm = 20\nformat = uint8\n")
        p = run("render", EPFL, "--config", ini, "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertIn("--format must be float32 or uint16, not 'uint8' (set in %s:3)" % ini, p.stderr)
        p = run("render", EPFL, "--config", ini, "--format", "uint9", "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertNotIn("set in", p.stderr)
        self.assertEqual(os.listdir(self.dir), ["bad.ini"])  # nothing written
        # A folder or a binary file given as the configuration is named as such.
        p = run("render", EPFL, "--config", self.dir, "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertIn("--config %s: is a folder" % self.dir, p.stderr)
        binary = os.path.join(self.dir, "model.h5")
        with open(binary, "wb") as fh:
            fh.write(b"\x89HDF\r\n\x1a\n")  # an HDF5 signature
        p = run("render", EPFL, "--config", binary, "-o", os.path.join(self.dir, "x.tif"), check=1)
        self.assertIn("--config %s: not a text file (byte 6 is 0x1a)" % binary, p.stderr)

    def test_malformed_table_names_file_and_line_and_leaves_no_output(self):
        bad = os.path.join(self.dir, "bad.csv")
        with open(bad, "w") as fh:
            fh.write("frame,x [nm],y [nm]\n1,10,20\n2,oops,30\n")
        out = os.path.join(self.dir, "o.tif")
        p = run("render", bad, "-o", out, check=2)
        self.assertIn("bad.csv:3: column 2", p.stderr)
        self.assertFalse(os.path.exists(out))
        p = run("render", bad, "--skip-bad-rows", "-o", out, check=0)
        self.assertIn("bad.csv: skipped 1 malformed row(s) of 2 (--skip-bad-rows); first: " + bad + ":3: column 2", p.stderr)
        self.assertEqual(tifffile.imread(out).sum(), 1)

    def test_an_edited_simulate_section_is_said_not_to_remake_the_campaign(self):
        ini = os.path.join(self.dir, "my.ini")
        text = ("threads = 1\n[simulate]\noutput = camp\nrows = 1\ncols = 2\nfov-um = 6\nframes = 100\nseed = 11\n"
                "[run]\ncampaign = camp\noutput = res\nstage = fovs\n")
        with open(ini, "w") as f:
            f.write(text)
        p = run("run", "--config", ini, "-q", check=0, cwd=self.dir)
        self.assertNotIn("differs", p.stderr)
        with open(ini, "w") as f:
            f.write(text.replace("seed = 11", "seed = 12").replace("rows = 1", "rows = 3"))
        p = run("run", "--config", ini, check=0, cwd=self.dir)
        self.assertIn("the [simulate] section of " + ini + " differs from the settings camp was simulated with "
                      "(camp/simulate.config.ini): rows 3 (campaign: 1), seed 12 (campaign: 11). The existing campaign is run",
                      p.stderr)
        self.assertIn("2 FoVs: 2 already done", p.stderr + p.stdout)
        with open(ini, "w") as f:
            f.write(text.replace("seed = 11", "sede = 11"))
        p = run("run", "--config", ini, check=0, cwd=self.dir)
        self.assertIn("the [simulate] section of " + ini + " is not used (camp exists) and has an error: " + ini + ":8: unknown option "
                      "'sede'", p.stderr)

    def test_run_never_simulates_a_campaign_nobody_asked_for(self):
        # A [run]-only config whose campaign path has a typo: an error, not a simulated campaign.
        ini = os.path.join(self.dir, "typo.ini")
        with open(ini, "w") as f:
            f.write(f"[run]\ncampaign = {self.dir}/cmap\noutput = {self.dir}/out\n")
        p = subprocess.run([BIN, "run", "--config", ini], capture_output=True, text=True, cwd=self.dir)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn("has no [simulate] section", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "cmap", "positions.csv")))
        # No --config: the embedded demo, with the options given still applied (here --campaign, -o):
        # its [simulate] section makes out/demo/campaign, so another missing folder is an error.
        # It writes nothing in the working folder, and its private copy of the configuration in
        # $TMPDIR is gone when it ends.
        here, tmp = os.path.join(self.dir, "here"), os.path.join(self.dir, "tmp")
        os.makedirs(here)
        os.makedirs(tmp)
        p = subprocess.run([BIN, "run", "--campaign", "elsewhere"], capture_output=True, text=True, cwd=here,
                           env=dict(os.environ, TMPDIR=tmp))
        self.assertEqual(p.returncode, 1, p.stderr)  # a campaign of one's own needs its own output folder
        self.assertIn("--campaign elsewhere without --output", p.stderr)
        p = subprocess.run([BIN, "run", "--campaign", "elsewhere", "-o", "res"], capture_output=True, text=True, cwd=here,
                           env=dict(os.environ, TMPDIR=tmp))
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn("init-campaign", p.stderr)
        self.assertIn("elsewhere", p.stderr)
        self.assertIn("the [simulate] section of the embedded demo configuration", p.stderr)
        self.assertIn("--simulate-if-missing true", p.stderr)
        self.assertEqual(os.listdir(here), [])
        self.assertEqual(os.listdir(tmp), [])
        # `run -o OUT` alone: the demo campaign is simulated inside OUT, nothing else in the
        # working folder (one FoV is enough to show where everything goes).
        p = subprocess.run([BIN, "run", "-o", "res", "--stage", "fovs", "--max-fovs", "1"], capture_output=True,
                           text=True, cwd=here, env=dict(os.environ, TMPDIR=tmp))
        self.assertEqual(p.returncode, 75, p.stderr)  # FoVs left: the FoV stage is not finished
        self.assertIn("--max-fovs 1: 15 FoV(s) left for a later run: rerun to carry on (exit 75)", p.stderr)
        self.assertEqual(os.listdir(here), ["res"])
        self.assertTrue(os.path.isfile(os.path.join(here, "res", "campaign", "positions.csv")))
        self.assertEqual(len(os.listdir(os.path.join(here, "res", "fov"))), 1)
        self.assertIn("campaign = res/campaign", open(os.path.join(here, "res", "config.ini")).read())
        self.assertEqual(os.listdir(tmp), [])

    def test_a_tmpdir_open_mpi_cannot_use_is_said_plainly(self):
        # Open MPI keeps its session files in $TMPDIR: one that is not a writable folder made
        # MPI_Init fail with fifty lines of its internals and exit 1.
        for tmpdir in ("/nonexistent-annamosaic-tmp", ""):
            env = dict(os.environ, TMPDIR=tmpdir)
            env.pop("OMPI_MCA_orte_tmpdir_base", None)
            p = subprocess.run([BIN, "run", "--campaign", os.path.join(self.dir, "none"), "-o", os.path.join(self.dir, "o")],
                               capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn("TMPDIR=%s: not a folder this user can write: Open MPI keeps its session files there" % tmpdir,
                          p.stderr)
            self.assertNotIn("orte", p.stderr)

    def test_outputs_never_overwrite_inputs_or_each_other(self):
        table = os.path.join(self.dir, "t.csv")
        shutil.copy(EPFL, table)
        before = open(table, "rb").read()
        p = run("render", table, "-o", os.path.join(self.dir, "x.tif"), "--preview", table)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("would overwrite the input", p.stderr)
        self.assertEqual(open(table, "rb").read(), before)
        # The preview named as the image: refused before any work, nothing written.
        p = run("render", table, "-o", os.path.join(self.dir, "x.tif"), "--preview", os.path.join(self.dir, "x.tif"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("two outputs would be written to", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "x.tif")))
        # Any other name than .tif: a TIFF under it would be taken for what the name says.
        for name in ("x.csv", "x.png", "new/x.csv"):
            p = run("render", table, "-o", os.path.join(self.dir, name))
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("the image is written as a TIFF, so name it .tif", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "new")))  # nothing made for it
        # An output folder that cannot exist (under a regular file): an I/O error naming it.
        blocker = os.path.join(self.dir, "afile")
        open(blocker, "w").close()
        p = run("render", table, "-o", os.path.join(blocker, "out.tif"))
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(blocker + ": cannot create the output folder", p.stderr)

    def test_a_far_outlier_is_named_with_its_row(self):
        table = os.path.join(self.dir, "far.csv")
        with open(table, "w") as f:
            f.write("frame,x [nm],y [nm]\n1,100,200\n2,1e12,300\n3,150,250\n")
        p = run("render", table, "-o", os.path.join(self.dir, "far.tif"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(table, p.stderr)
        self.assertIn("to 1e+12 nm, row 2", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "far.tif")))
        # Two rows, too few to tell an outlier: the size of the image they span is refused, naming
        # the rows (1e300 nm was "nothing to render", a 5e8 x 1 px strip took gigabytes).
        for x, said in (("1e300", "row 1"), ("1e10", "500000001 x 1 px")):
            with open(table, "w") as f:
                f.write("frame,x [nm],y [nm]\n1,%s,0\n2,0,0\n" % x)
            p = run("render", table, "-o", os.path.join(self.dir, "far.tif"))
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertNotIn("nothing to render", p.stderr)
            self.assertIn(said, p.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.dir, "far.tif")))

    def test_a_paper_window_on_a_short_acquisition_is_said(self):
        # The EPFL table has 361 frames: sparse-paper's 300-500 frames are nearly all of it.
        p = run("render", EPFL, "--frames", "sparse-paper", "-o", os.path.join(self.dir, "sp.tif"), "--no-preview", check=0)
        self.assertIn("only 361 frames", p.stdout + p.stderr)
        p = run("render", EPFL, "--frames", "first:36", "-o", os.path.join(self.dir, "f36.tif"), "--no-preview", check=0)
        self.assertNotIn("warning", p.stdout + p.stderr)
        # Windows past the table's end: the log says where the table ends (probe78 read "window [31, 31)").
        p = run("render", EPFL, "--frames", "300:400", "-o", os.path.join(self.dir, "late.tif"), "--no-preview", check=0)
        self.assertRegex(p.stderr, r"window \[(300|301), (361|362)\) \(asked up to 40[01]: the table's last frame is 36[01]\)")
        p = run("render", EPFL, "--frames", "400:500", "-o", os.path.join(self.dir, "none.tif"), "--no-preview", check=0)
        self.assertRegex(p.stderr, r"the window starts at frame 40[01], after the table's last frame \(36[01]\): no frame "
                                   r"of the table is in it")

    def test_one_far_row_in_a_real_table_is_refused_by_row(self):
        # The EPFL table plus one row 3 mm away (a unit slip): it made a 149968 x 250 px image.
        table = os.path.join(self.dir, "epfl-far.csv")
        with open(EPFL) as f:
            lines = f.read().splitlines()
        with open(table, "w") as f:
            f.write("\n".join(lines + ["100,3000000,2000"]) + "\n")
        out = os.path.join(self.dir, "far.tif")
        p = run("render", table, "-o", out, check=2)
        self.assertIn("1 localization(s) lie far outside the others", p.stderr)
        self.assertIn("data row %d at (3e+06, 2000) nm" % len(lines), p.stderr)
        self.assertFalse(os.path.exists(out))
        # A region around the rest still renders.
        run("render", table, "--field-nm", "0,0,7000,7000", "-o", out, check=0)

    def test_simulate_never_writes_over_a_campaign_of_real_data(self):
        real = os.path.join(self.dir, "real")
        os.makedirs(os.path.join(real, "fov", "0000"))
        with open(os.path.join(real, "campaign.ini"), "w") as f:
            f.write("[campaign]\nrows = 1\ncols = 1\nfov-um = 5\n")
        with open(os.path.join(real, "fov", "0000", "locs.csv"), "w") as f:
            f.write("frame,x [nm],y [nm]\n1,100,200\n")
        p = run("simulate", "-o", real, "--rows", "1", "--cols", "1", "--fov-um", "5", check=2)
        self.assertIn(real + ": holds a campaign that annamosaic simulate did not make", p.stderr)
        with open(os.path.join(real, "fov", "0000", "locs.csv")) as f:
            self.assertEqual(f.read(), "frame,x [nm],y [nm]\n1,100,200\n")
        self.assertEqual(sorted(os.listdir(real)), ["campaign.ini", "fov"])

    def test_simulating_over_a_larger_campaign_names_its_leftovers(self):
        out = os.path.join(self.dir, "camp")
        run("simulate", "-o", out, "--rows", "2", "--cols", "2", "--fov-um", "5", "-q", check=0)
        p = run("simulate", "-o", out, "--rows", "1", "--cols", "2", "--fov-um", "5", check=0)
        self.assertIn("2 FoV folder(s) of an earlier campaign remain (fov/0002 ... fov/0003)", p.stderr)
        with open(os.path.join(out, "positions.csv")) as f:
            self.assertEqual(len(list(csv.DictReader(f))), 2)
        # The earlier simulation's ground truth of FoVs 2 and 3 would contradict this one: removed.
        self.assertIn("removed 2 ground-truth image(s) of an earlier simulation", p.stderr)
        self.assertEqual(sorted(os.listdir(os.path.join(out, "ground_truth", "perfect"))), ["0000.tif", "0001.tif"])
        # Without --name the campaign is named after its folder (not "demo").
        self.assertIn("simulating campaign 'camp'", p.stderr)
        with open(os.path.join(out, "campaign.ini")) as f:
            self.assertIn("name = camp\n", f.read())
        # A number given as nan is refused by name before anything is made.
        p = run("simulate", "-o", os.path.join(self.dir, "nan"), "--overlap-um", "nan", check=1)
        self.assertIn("--overlap-um must be a finite number, not nan", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "nan")))
        # `run -o` of a campaign folder (meant: run it) is refused, not a demo simulated into it.
        p = run("run", "-o", out, check=1)
        self.assertIn("is a campaign folder (it has campaign.ini / positions.csv): to run it, give --campaign", p.stderr)

    def test_a_rerun_from_the_outputs_config_works_from_any_folder(self):
        # Started with relative paths; OUT/config.ini records the folder they are relative to.
        here = os.path.join(self.dir, "lab")
        os.makedirs(here)
        run("simulate", "-o", os.path.join(here, "camp"), "--rows", "1", "--cols", "2", "--fov-um", "4", "--cell-fraction", "1",
            "--filaments-per-100um2", "30", "-q", check=0)
        p = subprocess.run([BIN, "run", "--campaign", "camp", "-o", "out", "--threads", "1", "--max-fovs", "1"],
                           cwd=here, capture_output=True, text=True)
        self.assertEqual(p.returncode, 75, p.stderr)
        config = os.path.join(here, "out", "config.ini")
        self.assertNotIn("max-fovs", text_of(config))  # this invocation's limits are not the campaign's
        self.assertNotIn("stage =", text_of(config))
        # From elsewhere, status and a rerun from that file agree on the folders, and the rerun finishes.
        elsewhere = os.path.join(self.dir, "elsewhere")
        os.makedirs(elsewhere)
        p = subprocess.run([BIN, "status", config], cwd=elsewhere, capture_output=True, text=True)
        self.assertIn("state:   stopped with 1 FoV(s) not done", p.stdout)
        p = subprocess.run([BIN, "run", "--config", config, "--threads", "1"], cwd=elsewhere, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("1 already done and verified", p.stdout + p.stderr)
        self.assertTrue(os.path.exists(os.path.join(here, "out", "mosaic.ims")))
        self.assertFalse(os.path.exists(os.path.join(elsewhere, "out")))

    def test_a_campaign_edited_after_its_run_is_said_not_silently_mixed(self):
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "3", "--fov-um", "6", "--cell-fraction", "1",
            "--filaments-per-100um2", "30", "-q", check=0)
        # FoV 2's table is FoV 0's (a copy slip): the mosaic would show that field twice.
        shutil.copy(os.path.join(camp, "fov", "0000", "locs.csv"), os.path.join(camp, "fov", "0002", "locs.csv"))
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        self.assertIn("1 table(s) are the same bytes under several FoVs (e.g. " + os.path.join(camp, "fov", "0000", "locs.csv"),
                      p.stderr)
        # A FoV added after positions.csv was written is not run: run and status name it.
        os.makedirs(os.path.join(camp, "fov", "0007"))
        shutil.copy(os.path.join(camp, "fov", "0001", "locs.csv"), os.path.join(camp, "fov", "0007", "locs.csv"))
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        said = "1 table(s) match the campaign's tables (fov/{id}/locs.csv) but positions.csv lists no FoV for them, so " \
               "they are not run: fov/0007/locs.csv"
        self.assertIn(said, p.stderr)
        self.assertIn(said, run("status", out, check=0).stdout)
        status = json.loads(run("status", out, "--json", check=0).stdout)[0]  # one entry per target
        self.assertEqual(status["unlisted_tables"], ["fov/0007/locs.csv"])  # for scripts; the sentence beside it
        self.assertIn(said, status["unlisted_tables_note"])
        # campaign.ini edited since the FoVs were made (its camera pixel decides how the widefield
        # is scaled): the rerun is refused, naming the change, not "all done" with old results.
        replace_in(os.path.join(camp, "campaign.ini"), "camera-pixel-nm = 108", "camera-pixel-nm = 160")
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=2)
        self.assertIn("holds FoV results made with other settings in " + camp + "/campaign.ini (camera-pixel-nm 108.0 -> "
                      "160.0): use another output folder (--output), or delete its fov/ and manifest.jsonl", p.stderr)
        p = run("status", out, check=2)
        self.assertIn("state:   cannot be rerun as configured:", p.stdout)
        # Its mosaic is current with the results there, which the edit made stale: not "up to date" alone.
        self.assertIn(", up to date with the FoV results there (made with the earlier settings: see state)", p.stdout)
        # For scripts: the output folder alone, as a rerun would use it (here from its own config.ini).
        self.assertEqual(run("status", out, "--output-folder", check=0).stdout, out + "\n")
        self.assertIn("not with --json", run("status", out, "--output-folder", "--json", check=1).stderr)
        self.assertIn("no such output folder", run("status", out + "-nope", "--output-folder", check=2).stderr)
        # A folder that does not exist, named twice (a shell glob, a script's list): one report.
        p = run("status", out + "-nope", out + "-nope/", "--json", check=2)
        self.assertEqual(len(json.loads(p.stdout)), 1, p.stdout)

    def test_runs_camera_pixel_option_scales_the_widefields_too(self):
        # campaign.ini without camera-pixel-nm, a 160 nm camera given on run's command line: the
        # widefields are scaled at 160 nm like px tables (not at the default 108), and the same pixel
        # moved into campaign.ini later is the same campaign (resumed, not refused).
        camp, out = os.path.join(self.dir, "cam160"), os.path.join(self.dir, "cam160-out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "2", "--fov-um", "8", "--camera-pixel-nm", "160",
            "--cell-fraction", "1", "--filaments-per-100um2", "30", "-q", check=0)
        ini = os.path.join(camp, "campaign.ini")
        replace_in(ini, "camera-pixel-nm = 160\n", "")
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", "--camera-pixel-nm", "160", check=0)
        # Not "widefield images of 50 x 50 px at camera-pixel-nm 108 (the default) cover 5.4 x 5.4 um" nor
        # "its resolution tags say 160 nm per pixel, the campaign's camera-pixel-nm is 108 (the default ...)".
        self.assertNotIn("camera-pixel-nm 108", p.stderr)
        self.assertNotIn("camera-pixel-nm is 108", p.stderr)
        with open(os.path.join(out, "fov_settings.json")) as f:
            settings = json.load(f)
        self.assertEqual(settings["campaign_settings"]["camera-pixel-nm"], 160.0)
        # The same folder as an earlier version left it (no campaign_settings recorded; its
        # widefields were scaled at 108 nm): not resumed as if they were right.
        old = out + "-old"
        shutil.copytree(out, old)
        del settings["campaign_settings"]
        with open(os.path.join(old, "fov_settings.json"), "w") as f:
            json.dump(settings, f)
        p = run("run", "--campaign", camp, "-o", old, "--threads", "1", "--camera-pixel-nm", "160", check=2)
        self.assertIn("holds FoV results made by an earlier version with --camera-pixel-nm 160, which used it for tables in "
                      "px only and scaled the widefields at the default 108 nm", p.stderr)
        self.assertIn("cannot be rerun as configured: " + old + ": holds FoV results made by an earlier version",
                      run("status", old, check=2).stdout)
        with open(ini, "a") as f:
            f.write("camera-pixel-nm = 160\n")
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        self.assertIn("2 already done and verified", p.stdout + p.stderr)
        self.assertEqual(run("status", out, check=0).stdout.count("state:   finished\n"), 1)
        # Now campaign.ini says 160: another pixel on the command line cannot also be meant.
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", "--camera-pixel-nm", "108", check=1)
        self.assertIn("--camera-pixel-nm 108 and " + camp + "/campaign.ini's camera-pixel-nm 160 disagree", p.stderr)
        config = os.path.join(self.dir, "cam108.ini")
        with open(config, "w") as f:
            f.write(f"[run]\ncampaign = {camp}\noutput = {out}\ncamera-pixel-nm = 108\n")
        p = run("status", config, check=2)
        self.assertIn("state:   cannot run as configured: --camera-pixel-nm 108 and", p.stdout)

    def test_damaged_bookkeeping_files_are_said_and_repaired_not_trusted(self):
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "2", "--fov-um", "6", "--cell-fraction", "1",
            "--filaments-per-100um2", "30", "-q", check=0)
        run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        manifest = os.path.join(out, "manifest.jsonl")
        lines = text_of(manifest).splitlines()
        # A damaged line (an edit, a disk error): not "cannot read", exit 2, which submit-campaign.sh
        # takes as a grid to give up; the next run moves it aside and redoes that FoV.
        with open(manifest, "w") as f:
            f.write("\n".join(lines[:1] + ["GARBAGE{{{"] + lines[2:]) + "\n")
        p = run("status", out, check=75)
        self.assertIn("line 2 is not a FoV record (edited, or damaged): run the same command again", p.stdout)
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        self.assertIn("1 line(s) that are not FoV records (cut short by a kill, or edited) moved to "
                      "manifest.jsonl.removed-lines", p.stderr)
        self.assertEqual(text_of(manifest + ".removed-lines"), "GARBAGE{{{\n")
        for line in text_of(manifest).splitlines():
            json.loads(line)  # every line a whole record again
        run("status", out, check=0)
        # fov_settings.json cut short: the settings the results were made with are unknown, so a run
        # with other settings must not reuse them as "already done" (it did, silently).
        settings = os.path.join(out, "fov_settings.json")
        with open(settings, "r+") as f:
            f.truncate(40)
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", "--frames", "first:500", check=2)
        self.assertIn(settings + ": cannot be read (cut short, or edited?), so the settings this folder's FoV results "
                      "were made with are unknown: delete it", p.stderr)
        self.assertIn("cannot be rerun as configured: " + settings + ": cannot be read", run("status", out, check=2).stdout)
        os.remove(settings)  # the way out it names: reuse them unchecked
        run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        # A configuration with another --frames for these results: status says what run refuses.
        other = os.path.join(self.dir, "frames.ini")
        with open(other, "w") as f:
            f.write(f"[run]\ncampaign = {camp}\noutput = {out}\nframes = first:500\n")
        self.assertIn('cannot be rerun as configured: ' + out + ': holds FoV results made with other settings (frames "all" '
                      '-> "first:500")', run("status", other, check=2).stdout)
        self.assertIn('holds FoV results made with other settings (frames "all" -> "first:500")',
                      run("run", "--config", other, check=2).stderr)
        # A run stopped before it wrote config.ini (its lock and fov_settings.json there, no FoV
        # record): one to run again (75), not a folder status cannot read (2: submit-campaign gives up).
        early = os.path.join(self.dir, "early")
        os.makedirs(early)
        shutil.copy(settings, early)
        p = run("status", early, check=75)
        self.assertIn("a run began here and stopped before it wrote config.ini", p.stdout)
        # A result deleted since: --stage stitch makes neither a mosaic nor a QC report without it
        # (it kept the mosaic and wrote a QC overview with a hole, exit 0).
        overview = os.path.join(out, "qc", "overview_reconstruction.png")
        before = os.stat(overview).st_mtime_ns
        os.remove(os.path.join(out, "fov", "0001.h5"))
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", "--stage", "stitch", check=2)
        self.assertIn("1 FoV result(s) are gone or damaged since they were recorded (FoV 1: fov/0001.h5 is gone): run "
                      "without --stage (or with --stage fovs) to redo them; nothing was stitched", p.stderr)
        self.assertEqual(os.stat(overview).st_mtime_ns, before)
        run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)

    def test_a_widefield_out_of_place_is_not_given_to_the_anet_unless_searched_for(self):
        # Widefields 2 um (18 camera px) off their localizations, beyond the 5 px searched by default:
        # registration stays uncertain and such a widefield, given to the A-net, made a worse
        # reconstruction than none. A few NaN pixels in one are set to the median, not a failed FoV.
        from scipy import ndimage
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "2", "--fov-um", "10", "--cell-fraction", "1", "-q", check=0)
        for i in (0, 1):
            path = os.path.join(camp, "fov", "%04d" % i, "widefield.tif")
            stack = tifffile.imread(path).astype(np.float32)
            moved = np.stack([ndimage.shift(f, (18, 18), order=1, mode="nearest") for f in stack])
            if i == 1:
                moved[:, 10:20, 10:40] = np.nan
            tifffile.imwrite(path, moved)
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        self.assertIn("widefield ignored: " + os.path.join(camp, "fov", "0000", "widefield.tif") + ": its registration to the "
                      "localizations is uncertain (confidence", p.stderr)
        self.assertIn("searched +-0.54 um per axis, --widefield-search-um to search further, into a new --output)", p.stderr)
        self.assertIn(os.path.join(camp, "fov", "0001", "widefield.tif") + ": 300 of ", p.stderr)
        with open(os.path.join(out, "manifest.jsonl")) as f:
            records = {r["id"]: r for r in map(json.loads, f)}
        self.assertEqual([records[i]["status"] for i in (0, 1)], ["done", "done"])
        self.assertEqual([records[i]["extra"]["widefield"] for i in (0, 1)], [False, False])
        # For the campaign, once: most widefields not registered is an offset to look for.
        self.assertEqual(p.stderr.count("2 of the 2 FoVs done with a widefield could not register it to their "
                                        "localizations"), 1)
        # Searched far enough, they register: 18 px and the stage's own small error.
        out2 = os.path.join(self.dir, "out2")
        p = run("run", "--campaign", camp, "-o", out2, "--threads", "1", "--widefield-search-um", "3", check=0)
        self.assertNotIn("widefield ignored", p.stderr)
        with open(os.path.join(out2, "manifest.jsonl")) as f:
            for r in map(json.loads, f):
                self.assertTrue(r["extra"]["widefield"], r)
                self.assertAlmostEqual(r["extra"]["wf_shift_x_px"], 18, delta=3)
                self.assertAlmostEqual(r["extra"]["wf_shift_y_px"], 18, delta=3)
        # The search is a FoV setting: a rerun into that folder without it is refused.
        p = run("run", "--campaign", camp, "-o", out2, "--threads", "1", check=2)
        self.assertIn("widefield-search-um 3.0 -> (not given)", p.stderr)
        # Its default given explicitly (5 camera pixels of 108 nm) is the default, not a change.
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", "--widefield-search-um", "0.54", check=0)
        self.assertIn("2 already done and verified", p.stderr)

    def test_widefields_transposed_against_the_tables_are_said_for_the_campaign(self):
        # A camera mounted otherwise turns every widefield: each FoV says its own matches transposed,
        # and the campaign says it once, as the widefields' fault (not a wider search's).
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "3", "--fov-um", "10", "--cell-fraction", "1", "-q", check=0)
        for i in range(3):
            path = os.path.join(camp, "fov", "%04d" % i, "widefield.tif")
            tifffile.imwrite(path, np.ascontiguousarray(np.transpose(tifffile.imread(path), (0, 2, 1))))
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        self.assertIn("3 of the 3 FoVs done with a widefield match their localizations only transposed (x and y swapped) "
                      "(FoVs 0, 1, 2): the widefields are most likely transposed (x and y swapped) against the tables' x "
                      "and y, all of them. Fix the widefields", p.stderr)
        self.assertNotIn("larger --widefield-search-um", p.stderr)
        with open(os.path.join(out, "manifest.jsonl")) as f:
            for r in map(json.loads, f):
                self.assertEqual(r["extra"]["widefield_matches"], "transposed (x and y swapped)", r)
                self.assertFalse(r["extra"]["widefield"], r)

    def test_a_fov_um_larger_than_the_cameras_field_is_said(self):
        # 10 um fields described as 13 um: the tiles are placed apart, their empty margins dim the
        # mosaic in bands, and before only the widefields' scale was questioned (probe72).
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "2", "--fov-um", "10", "--cell-fraction", "1", "-q", check=0)
        ini = os.path.join(camp, "campaign.ini")
        text = replace_in(ini, "fov-um = 10", "fov-um = 13")
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        self.assertRegex(p.stderr, r"the localizations of 2 of the 2 FoVs done with 100 or more start at their field's corner "
                                   r"but reach no further than (9\.\d+|10) um in x, (9\.\d+|10) um in y, in any FoV, of "
                                   r"their 13 um field: is fov-um larger than the camera's field")
        # The right fov-um: nothing said.
        with open(ini, "w") as f:
            f.write(text)
        p = run("run", "--campaign", camp, "-o", out + "2", "--threads", "1", check=0)
        self.assertNotIn("start at their field", p.stderr)

    def test_positions_from_a_wrong_overlap_are_said_with_the_overlap_the_images_show(self):
        # 10 um FoVs every 9 um, described (as init-campaign writes it from overlap-um 5) every 5 um:
        # each overlap lies 4 um from where registration looks, beyond its search; the tiles lay
        # where the positions said, exit 0, and nothing named the overlap (probe72).
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "3", "--fov-um", "10", "--cell-fraction", "1", "-q", check=0)
        with open(os.path.join(camp, "positions.csv"), "w") as f:
            f.write("id,row,col,x_um,y_um\n" + "".join(f"{c},0,{c},{5 * c},0\n" for c in range(3)))
        replace_in(os.path.join(camp, "campaign.ini"), "overlap-um = 1", "overlap-um = 5")
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=None)
        self.assertRegex(p.stderr, r"the images put neighbouring tiles a median (8\.[5-9]\d*|9(\.\d+)?) um apart along the rows, the "
                                   r"positions 5 um \(2 of 2 pairs matched across whole tiles, spread [0-9.e-]+ um; with tiles "
                                   r"of 10 um, an overlap of (1|0\.\d+|1\.\d) um, the positions' 5 um\).*Is overlap-um \(or "
                                   r"fov-um, or the positions' scale\) right\?")

    def test_a_saturated_widefield_is_said(self):
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "1", "--fov-um", "8", "--cell-fraction", "1", "-q", check=0)
        path = os.path.join(camp, "fov", "0000", "widefield.tif")
        stack = tifffile.imread(path)
        tifffile.imwrite(path, np.minimum(stack, np.percentile(stack, 97)).astype(stack.dtype))  # clipped at the top 3%
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        self.assertRegex(p.stderr, re.escape(path) + r": \d+ of its \d+ pixels \([0-9.]+%\) sit at its maximum, [0-9.]+: a "
                         r"saturated \(clipped\) widefield\?")

    def test_status_of_a_campaign_still_to_simulate_checks_what_its_job_would_meet(self):
        # submit-campaign.sh asks `status` before submitting: a configuration whose campaign is
        # simulated first must not pass as "not started" when its job would fail once it runs.
        def config(name, simulate, run_extra=""):
            path = os.path.join(self.dir, name + ".ini")
            with open(path, "w") as f:
                f.write(f"[simulate]\n{simulate}\n[run]\ncampaign = {self.dir}/{name}/campaign\n"
                        f"output = {self.dir}/{name}/out\n{run_extra}")
            return path
        p = run("status", config("nomodel", "rows = 2\ncols = 2\nfov-um = 8", f"model = {self.dir}/none.h5\n"), check=2)
        self.assertIn("not started (its campaign is simulated first, from the [simulate] section of", p.stdout)
        self.assertIn("and it cannot run: --model " + self.dir + "/none.h5: file not found", p.stdout)
        # The model's header as run reads it before any work: its pixel size, a file that is no model.
        p = run("status", config("pixel", "rows = 2\ncols = 2\nfov-um = 8", "pixel-nm = 10\n"), check=2)
        self.assertIn("anet-microtubules-ngf16.h5 was trained at 20 nm pixels, the run renders at 10 nm "
                      "(--pixel-nm): give --pixel-nm 20, or a model trained at 10 nm", p.stdout)
        # run's own option checks, which come before the model's: a pixel of 0 nm is no pixel size.
        p = run("status", config("pixel0", "rows = 2\ncols = 2\nfov-um = 8", "pixel-nm = 0\n"), check=2)
        self.assertIn("state:   cannot run as configured: --pixel-nm must be > 0", p.stdout)
        notmodel = os.path.join(self.dir, "notmodel.h5")
        with open(notmodel, "w") as f:
            f.write("x,y\n1,2\n")
        p = run("status", config("notmodel", "rows = 2\ncols = 2\nfov-um = 8", f"model = {notmodel}\n"), check=2)
        self.assertIn("and it cannot run: " + notmodel + ": not an HDF5 file", p.stdout)
        p = run("status", config("badrows", "rows = two\ncols = 2\nfov-um = 8"), check=2)
        self.assertIn("not started, and it cannot start: " + self.dir + "/badrows.ini: its [simulate] section, which would "
                      "make the campaign, cannot be used: " + self.dir + "/badrows.ini:2: the argument ('two') for option "
                      "'rows' is invalid", p.stdout)
        p = run("status", config("badfov", "rows = 2\ncols = 2\nfov-um = -8"), check=2)
        self.assertIn("cannot be used: --fov-um must be > 0", p.stdout)
        # The grid's own rule too, which only building it checked (the job would have simulated nothing).
        ini = config("overlap", "rows = 2\ncols = 2\nfov-um = 8\noverlap-um = 8")
        p = run("status", ini, check=2)
        self.assertIn("cannot be used: --overlap-um: overlap must be >= 0 and smaller than the FoV", p.stdout)
        # run says it as a usage error (exit 1), like every other bad [simulate] value.
        p = run("run", "--config", ini, check=1)
        self.assertIn("preparing the campaign failed: --overlap-um: overlap must be >= 0", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "overlap")))
        run("status", config("good", "rows = 2\ncols = 2\nfov-um = 8"), check=75)

    def test_simulated_fovs_without_localizations_are_counted_in_a_warning(self):
        # No cells at all: every FoV is empty, which `run` would then fail one by one.
        p = run("simulate", "-o", os.path.join(self.dir, "empty"), "--rows", "1", "--cols", "2", "--fov-um", "5",
                "--cell-fraction", "0", "--false-per-um2-per-frame", "0", check=0)
        self.assertIn("2 of 2 FoVs have no localizations", p.stderr)
        p = run("simulate", "-o", os.path.join(self.dir, "full"), "--rows", "1", "--cols", "2", "--fov-um", "5",
                "--cell-fraction", "1", "--false-per-um2-per-frame", "0", check=0)
        self.assertNotIn("have no localizations", p.stderr)

    def test_a_campaign_of_um_tables_under_bare_headers_is_said_once_loudly(self):
        # Every table in um, its header "x", "y": each FoV's localizations land in a corner (read
        # as nm). Each FoV warns; the run ends with one error line that names the likely unit.
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "2", "--fov-um", "6", "--cell-fraction", "1",
            "--filaments-per-100um2", "30", "-q", check=0)
        for i in (0, 1):
            path = os.path.join(camp, "fov", "%04d" % i, "locs.csv")
            with open(path) as f:
                rows = list(csv.reader(f))
            xi, yi = rows[0].index("x [nm]"), rows[0].index("y [nm]")
            rows[0][xi], rows[0][yi] = "x", "y"
            for r in rows[1:]:
                r[xi], r[yi] = str(float(r[xi]) / 1000), str(float(r[yi]) / 1000)
            with open(path, "w", newline="") as f:
                csv.writer(f).writerows(rows)
        p = run("run", "--campaign", camp, "-o", out, "--no-widefield", "--threads", "1", check=5)  # a script sees it
        self.assertEqual(p.stderr.count("the localizations span only"), 2 + 1, p.stderr[-3000:])  # 2 FoVs + the summary
        self.assertIn("2 of the 2 FoVs done have all their localizations in a corner of the field", p.stderr)
        self.assertIn("run into a new output folder with xy-unit = um (or px) in campaign.ini, or --xy-unit", p.stderr)

    def test_positions_with_y_flipped_name_the_axis_when_its_overlaps_all_fail(self):
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "3", "--cols", "3", "--fov-um", "6", "--seed", "21", "--jitter-um", "0.2",
            "--cell-fraction", "1", "--cell-radius-um", "40", "--cell-spacing-um", "60", "--filaments-per-100um2", "12",
            "-q", check=0)
        path = os.path.join(camp, "positions.csv")
        with open(path) as f:
            rows = list(csv.DictReader(f))
        with open(path, "w", newline="") as f:  # the stage's y axis the other way
            w = csv.writer(f)
            w.writerow(["id", "row", "col", "x_um", "y_um"])
            for r in rows:
                w.writerow([r["id"], r["row"], r["col"], r["x_um"], -float(r["y_um"])])
        p = run("run", "--campaign", camp, "-o", out, "--no-widefield", "--threads", "1", check=0)
        self.assertIn("y_um decreases as row increases", p.stderr)
        # The positions file is named by its path (campaign.ini may name another: positions = stage.csv).
        self.assertRegex(p.stderr, r"none of the 6 overlaps down the columns \(y\) registered, while \d of the 6 along the "
                                   r"rows did: is y_um flipped in " + re.escape(os.path.join(camp, "positions.csv")))
        self.assertIn("or were the FoVs acquired in another order than the ids say (snake vs raster: init-campaign --order)?",
                      p.stderr)

    def test_an_overlap_left_out_as_ambiguous_is_said_with_the_margin_to_change(self):
        # A real single-filament table (LUME, U2OS microtubules) cut into 3 FoVs of 3 um down a
        # column: the overlap of FoVs 1 and 2 matches at NCC 0.99, but another offset along the
        # filament nearly as well. The warning named only thin overlaps (probe99); run had no
        # --min-ncc-margin to change.
        data = os.path.join(self.dir, "lume")
        os.makedirs(os.path.join(data, "tables"))
        with open(os.path.join(DATA, "u2os-microtubule-single-lume.csv")) as f:
            rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))][1:]
        locs = [(int(r[0]), float(r[1]), float(r[2])) for r in rows]
        x0, y0 = min(x for _, x, _ in locs), min(y for _, _, y in locs)
        for k in range(3):
            low = y0 + 2500 * k
            with open(os.path.join(data, "tables", f"fov{k}.csv"), "w") as f:
                f.write("frame,x [um],y [um]\n")
                for fr, x, y in locs:
                    if low <= y < low + 3000:
                        f.write(f"{fr},{(x - x0) / 1000:.4f},{(y - low) / 1000:.4f}\n")
        run("init-campaign", data, "--rows", "3", "--cols", "1", "--fov-um", "3", "--overlap-um", "0.5",
            "--table", "tables/fov{id:d}.csv", "--no-widefield", check=0)
        out = os.path.join(self.dir, "out")
        p = run("run", "--campaign", data, "-o", out, "--threads", "1", check=0)
        self.assertRegex(p.stderr, r"1 overlap\(s\) left out matched \(NCC up to 0\.9\d\) but another offset of the same one "
                                   r"nearly as well \(0\.\d\d; --min-ncc-margin 0\.12\)")
        with open(os.path.join(out, "layout.json")) as f:
            self.assertEqual(sum(e["used"] for e in json.load(f)["edges"]), 1)
        # A smaller margin accepts it: the mosaic is made again, both overlaps registered.
        p = run("run", "--campaign", data, "-o", out, "--threads", "1", "--min-ncc-margin", "0.05", check=0)
        self.assertIn("a setting changed since it was made: min-ncc-margin 0.05 (was 0.12)", p.stderr)
        self.assertNotIn("left out matched", p.stderr)
        with open(os.path.join(out, "layout.json")) as f:
            self.assertEqual(sum(e["used"] for e in json.load(f)["edges"]), 2)
        p = run("run", "--campaign", data, "-o", out, "--min-ncc-margin", "1.5", check=1)
        self.assertIn("--min-ncc-margin must be >= 0 and below 1", p.stderr)
        # A search range in nm (2500 for 2.5 um) is said as such, not only limited to half a step.
        p = run("run", "--campaign", data, "-o", out, "--threads", "1", "--min-ncc-margin", "0.05", "--search-um", "2500",
                check=0)
        self.assertIn("--search-um 2500 is 1000 times the step between FoVs (2.5 um), beyond any stage's error: is the value "
                      "in nm (2500 nm is 2.5 um)? Searching +-1.25 um", p.stderr)

    def test_overlaps_failing_at_nearly_empty_fovs_do_not_blame_the_axes(self):
        # A 2 x 2 grid whose FoVs 1 and 2 hold a handful of localizations (outside the cells): the
        # overlaps along the rows all touch one of them and fail, which is no sign of a flipped axis.
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "2", "--cols", "2", "--fov-um", "15", "--seed", "5", "-q", check=0)
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", check=0)
        self.assertIn("overlaps tried registered", p.stderr)  # said, with the usual causes
        self.assertNotIn("positions.csv (the stage's axis the other way)", p.stderr)
        with open(os.path.join(out, "qc", "qc.json")) as f:
            few = [t["id"] for t in json.load(f)["fovs"] if any("localizations, under 5%" in x for x in t["flags"])]
        self.assertEqual(few, [1, 2])

    def test_a_specimen_value_out_of_range_is_refused_by_name(self):
        for option, value, said in (("--pore-occupancy", "2", "must be in [0, 1]"), ("--photons-per-label", "-1", "must be >= 0"),
                                    ("--gradient", "1.5", "must be in [0, 1]")):
            p = run("simulate", "-o", os.path.join(self.dir, "x"), option, value, check=1)
            self.assertIn(option + " " + said, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "x")))

    def test_widefield_none_set_after_a_run_redoes_its_fovs(self):
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "2", "--fov-um", "5", "-q", check=0)
        run("run", "--campaign", camp, "-o", out, "--stage", "fovs", "--threads", "1", check=0)
        ini = os.path.join(camp, "campaign.ini")
        with open(ini) as f:
            text = f.read()
        with open(ini, "w") as f:
            f.write(re.sub(r"(?m)^widefield = .*$", "widefield = none", text))
        p = run("run", "--campaign", camp, "-o", out, "--stage", "fovs", "--threads", "1", check=0)
        self.assertEqual((p.stdout + p.stderr).count("the campaign has no widefields now"), 2, p.stderr)

    def test_random_frame_windows_differ_per_fov_and_are_recorded(self):
        camp, out = os.path.join(self.dir, "camp"), os.path.join(self.dir, "out")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "3", "--fov-um", "5", "--frames", "1000", "-q", check=0)
        args = ("run", "--campaign", camp, "-o", out, "--stage", "fovs", "--threads", "1", "--frames", "random:200")
        run(*args, "--frames-seed", "3", check=0)
        windows = []
        for i in range(3):
            with h5py.File(os.path.join(out, "fov", "%04d.h5" % i), "r") as f:
                first, end = int(f.attrs["frames_first"]), int(f.attrs["frames_end"])
                self.assertIn(b"frames_first", f.attrs["about"])
            # Simulated tables count frames from 1, up to 1000.
            self.assertEqual(end - first, 200)
            self.assertGreaterEqual(first, 1)
            self.assertLessEqual(end, 1001)
            windows.append(first)
        self.assertGreater(len(set(windows)), 1, windows)  # each FoV its own window
        # The seed is part of the results' settings: another one is refused by name, nothing redone.
        p = run(*args, "--frames-seed", "4", check=2)
        self.assertIn("frames-seed 3 -> 4", p.stderr)
        # The same seed reuses every FoV.
        p = run(*args, "--frames-seed", "3", check=0)
        self.assertIn("3 already done and verified", p.stdout + p.stderr)
        # The stitch stage uses no frame option, but records them in config.ini: another seed is said.
        p = run("run", "--campaign", camp, "-o", out, "--stage", "stitch", "--threads", "1", "--frames", "random:200",
                "--frames-seed", "4", check=0)
        self.assertIn("the FoV results were made with other FoV options (frames-seed 3 -> 4); the stitch stage uses none",
                      p.stderr)
        # A fixed window is recorded as it is, and the seed is not a setting of it.
        out2 = os.path.join(self.dir, "out2")
        run("run", "--campaign", camp, "-o", out2, "--stage", "fovs", "--threads", "1", "--frames", "100:300", check=0)
        with h5py.File(os.path.join(out2, "fov", "0001.h5"), "r") as f:
            self.assertEqual((int(f.attrs["frames_first"]), int(f.attrs["frames_end"])), (101, 301))
        with open(os.path.join(out2, "fov_settings.json")) as f:
            self.assertNotIn("frames-seed", json.load(f))

    def test_a_file_size_limit_is_said_before_the_work(self):
        # ulimit -f ends a process at the first write past it (SIGXFSZ), silently: said first.
        import resource
        limit = 10 ** 10
        p = subprocess.run([BIN, "render", EPFL, "-o", os.path.join(self.dir, "lim.tif"), "--no-preview"],
                           capture_output=True, text=True,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("this process may write files of at most 1e+04 MB (ulimit -f)", p.stderr)
        # Without one (this test's own environment's limit, if any, is said too).
        said = "ulimit -f" in run("render", EPFL, "-o", os.path.join(self.dir, "nolim.tif"), "--no-preview", check=0).stderr
        self.assertEqual(said, resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY)

    def test_missing_input_is_io_error(self):
        p = run("table-info", "/nonexistent/x.csv", check=3)
        self.assertIn("/nonexistent/x.csv", p.stderr)
        # ... said before the output's folder is made (a typo left an empty folder behind).
        p = run("render", "/nonexistent/x.csv", "-o", os.path.join(self.dir, "new", "x.tif"), check=3)
        self.assertIn("/nonexistent/x.csv: cannot open: No such file or directory", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "new")))
        # A link into a share that is not mounted: where it points.
        os.symlink("/nonexistent/share/x.csv", os.path.join(self.dir, "x.csv"))
        p = run("render", os.path.join(self.dir, "x.csv"), "-o", os.path.join(self.dir, "new", "x.tif"), check=3)
        self.assertIn("x.csv: is a link to /nonexistent/share/x.csv, which does not exist", p.stderr)
        # An option of the wrong form leaves no output folder either (probe102: --frames foo did).
        for cmd in (["render", EPFL], ["reconstruct", "--model", "anet-microtubules-ngf16.h5", "--table", EPFL]):
            for bad in (["--frames", "foo"], ["--frames", "10:5"]):
                p = run(*cmd, *bad, "-o", os.path.join(self.dir, "new", "x.tif"), check=1)
                self.assertIn("--frames", p.stderr)
                self.assertFalse(os.path.exists(os.path.join(self.dir, "new")), (cmd, bad))
        # A folder that cannot be made is said as the system said it, without the library's wording.
        afile = os.path.join(self.dir, "afile")
        with open(afile, "w") as fh:
            fh.write("x")
        p = run("evaluate", "--model", "anet-microtubules-ngf16.h5", "--table", EPFL, "-o", afile, "--no-frc", check=3)
        self.assertIn("error: %s: cannot create directories: Not a directory\n" % afile, p.stderr)
        self.assertNotIn("filesystem error", p.stderr)
        # A folder made for the results is not left empty by bad input found in the work.
        with open(os.path.join(self.dir, "no-locs.csv"), "w") as fh:
            fh.write("x,y,frame\n")
        p = run("evaluate", "--model", "anet-microtubules-ngf16.h5", "--table", os.path.join(self.dir, "no-locs.csv"),
                "-o", os.path.join(self.dir, "ev-new"), check=2)
        self.assertIn("no-locs.csv: table has no localizations", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "ev-new")))
        # The simulated protocol too, before its fields (probe102: said after them).
        p = run("evaluate", "--model", "anet-microtubules-ngf16.h5", "-o", afile, "--fields", "1", "--field-px", "256",
                "--n", "1000", "--no-frc", check=3)
        self.assertIn("error: %s: cannot create directories: Not a directory\n" % afile, p.stderr)
        self.assertNotIn("field 1/1", p.stdout + p.stderr)
        # An output folder that is a link to nothing (a scratch space not mounted): where it points.
        os.symlink("/nonexistent/scratch", os.path.join(self.dir, "scratch"))
        p = run("evaluate", "--model", "anet-microtubules-ngf16.h5", "--table", EPFL, "-o",
                os.path.join(self.dir, "scratch"), "--no-frc", check=3)
        self.assertIn("scratch: cannot create directories: File exists (it is a link to /nonexistent/scratch, which does "
                      "not exist)", p.stderr)

    def test_run_options_refused_leave_no_folder_and_true_false_options_stand_alone(self):
        camp = os.path.join(self.dir, "camp")
        run("simulate", "-o", camp, "--rows", "1", "--cols", "1", "--fov-um", "5", "--frames", "200", "-q", check=0)
        for bad, said in ((["--failed-tile", "black"], "--failed-tile must be widefield or empty, not 'black'"),
                          (["--precision", "fp16", "--device", "cpu"], "--precision fp16 needs a GPU (the CPU path runs fp32)"),
                          (["--precision", "fp8"], "--precision must be fp32, tf32, bf16 or fp16, not 'fp8'")):
            out = os.path.join(self.dir, "refused")
            p = run("run", "--campaign", camp, "-o", out, *bad, check=1)
            self.assertIn(said, p.stderr)
            self.assertNotIn("error: run:", p.stderr)
            self.assertFalse(os.path.exists(out), bad)  # status called such a folder a run killed early
        # --register-widefield alone is --register-widefield true; a word after it is its value.
        out = os.path.join(self.dir, "out")
        run("run", "--campaign", camp, "-o", out, "--threads", "1", "--register-widefield", "--stage", "fovs", "-q", check=0)
        with open(os.path.join(out, "config.ini")) as fh:
            self.assertIn("register-widefield = true\n", fh.read())
        # A FoV result says what its images hold, at which pixel size.
        with h5py.File(os.path.join(out, "fov", "0000.h5"), "r") as f:
            self.assertIn("nominal stage position", f.attrs["about"].decode())
            self.assertEqual(f["sparse"].attrs["pixel_nm"], f.attrs["pixel_nm"])
            for coarse in ("q", "error_map"):  # written with a widefield the A-net used
                if coarse in f:
                    self.assertEqual(f[coarse].attrs["pixel_nm"], 4 * f.attrs["pixel_nm"])
            self.assertIn("reconstruction A, 0..1", f["reconstruction"].attrs["description"].decode())
        p = run("run", "--campaign", camp, "-o", out, "--threads", "1", "--register-widefield", "maybe", check=1)
        self.assertIn("the argument ('maybe') for option '--register-widefield' is invalid", p.stderr)
        # A campaign folder missing one of its two files: said as such (not the demo's [simulate] advice).
        part = os.path.join(self.dir, "part")
        os.makedirs(part)
        shutil.copy(os.path.join(camp, "campaign.ini"), part)
        p = run("run", "--campaign", part, "-o", os.path.join(self.dir, "p-out"), check=3)
        self.assertIn("annamosaic run: error: preparing the campaign failed: " + part + "/positions.csv: missing, but "
                      "campaign.ini is there", p.stderr)
        self.assertNotIn("[simulate]", p.stderr)
        os.remove(os.path.join(part, "campaign.ini"))
        shutil.copy(os.path.join(camp, "positions.csv"), part)
        p = run("run", "--campaign", part, "-o", os.path.join(self.dir, "p-out"), check=3)
        self.assertIn("annamosaic run: error: preparing the campaign failed: " + part + "/campaign.ini: missing: every "
                      "campaign folder has one (`annamosaic init-campaign " + part, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "p-out")))
        # A page range in campaign.ini that cannot be: the file's line, not every FoV's widefield ignored.
        shutil.copy(os.path.join(camp, "campaign.ini"), part)
        with open(os.path.join(part, "campaign.ini")) as fh:
            text = fh.read()
        with open(os.path.join(part, "campaign.ini"), "w") as fh:
            fh.write(re.sub(r"(?m)^widefield-frames = .*$", "widefield-frames = 5-3", text))
        p = run("run", "--campaign", part, "-o", os.path.join(self.dir, "p-out"), check=2)
        self.assertRegex(p.stderr, re.escape(part) + r"/campaign.ini:\d+: widefield-frames = 5-3: expected 'all', 'N'")

    def test_table_info_on_every_shared_file(self):
        expected = {"thunderstorm-3d-export.csv": 11195, "u2os-microtubule-single-lume.csv": 2848,
                    "epfl2013-bundled-tubes-hd-groundtruth.csv": 81178, "deepstorm-demo1-thunderstorm.csv": 4956}
        for name, rows in expected.items():
            out = run("table-info", os.path.join(DATA, name), "-q", check=0).stdout
            self.assertIn(f"rows          {rows}", out)
        # The LUME table's header names no unit: render says what it assumed, as table-info does.
        p = run("render", os.path.join(DATA, "u2os-microtubule-single-lume.csv"), "-o", os.path.join(self.dir, "lume.tif"),
                "--no-preview", check=0)
        self.assertIn("x and y read as nm (no unit in the header: --xy-unit says another)", p.stderr)
        p = run("render", os.path.join(DATA, "thunderstorm-3d-export.csv"), "-o", os.path.join(self.dir, "ts.tif"),
                "--no-preview", check=0)
        self.assertIn("; columns ", p.stderr)
        self.assertNotIn("read as nm", p.stderr)  # "x [nm]": stated


    def test_fovs_joined_to_none_are_all_said_as_qc_flags_them(self):
        # Three FoVs in a row, the middle one empty (between cells): the other two join nothing.
        # The log left the largest "group" (one FoV) out and named one FoV where QC flagged two
        # (probe95); now both, as QC.
        d = os.path.join(self.dir, "isolated")
        shutil.rmtree(d, ignore_errors=True)
        run("simulate", "-o", os.path.join(d, "camp"), "--rows", "1", "--cols", "3", "--fov-um", "5", "--frames", "200",
            "--overlap-um", "0.3", "--cell-fraction", "1", "--cell-radius-um", "1000", "-q", check=0)
        p = run("run", "--campaign", os.path.join(d, "camp"), "-o", os.path.join(d, "out"), "--threads", "1", check=5)
        self.assertIn("2 FoV(s) are not joined to one another by any registered overlap (ids 0, 2)", p.stderr)
        with open(os.path.join(d, "out", "qc", "qc.json")) as fh:
            self.assertEqual(json.load(fh)["summary"]["placement_only"], [0, 2])


class Simulate(unittest.TestCase):
    """`annamosaic simulate` writes a campaign that independent readers open."""

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(TMP, "sim")
        shutil.rmtree(cls.dir, ignore_errors=True)
        cls.ini = os.path.join(cls.dir, "small.ini")
        os.makedirs(cls.dir)
        with open(cls.ini, "w") as fh:
            fh.write("[simulate]\nrows = 2\ncols = 3\nfov-um = 10\noverlap-um = 1\nseed = 4\n"
                     "cell-fraction = 1\ncell-radius-um = 60\nwrite-dense = true\n")
        cls.out = os.path.join(cls.dir, "campaign")
        cls.proc = run("simulate", "--config", cls.ini, "-o", cls.out, check=0)

    def test_layout_and_positions(self):
        import pandas as pd
        pos = pd.read_csv(os.path.join(self.out, "positions.csv"))
        self.assertEqual(list(pos.columns), ["id", "row", "col", "x_um", "y_um"])
        self.assertEqual(len(pos), 6)
        self.assertEqual(sorted(pos.x_um.unique().round(3)), [0.0, 9.0, 18.0])
        gt = pd.read_csv(os.path.join(self.out, "ground_truth", "positions.csv"))
        self.assertTrue((abs(gt.x_um - pos.x_um) < 1.0).all())  # jitter 0.3 um, truncated at 3 sigma
        self.assertTrue((abs(gt.wf_shift_x_px) <= 1.5).all())
        ini = open(os.path.join(self.out, "campaign.ini")).read()
        self.assertIn("fov-um = 10", ini)
        self.assertTrue(os.path.exists(os.path.join(self.out, "simulate.config.ini")))
        with open(os.path.join(self.out, "overview.png"), "rb") as fh:
            self.assertEqual(fh.read(4), b"\x89PNG")

    def test_tables_and_widefield_open_in_pandas_and_tifffile(self):
        import pandas as pd
        gt = pd.read_csv(os.path.join(self.out, "ground_truth", "positions.csv"))
        for i, row in gt.iterrows():
            d = os.path.join(self.out, "fov", f"{int(row.id):04d}")
            t = pd.read_csv(os.path.join(d, "locs.csv"))
            self.assertEqual(len(t), row.localizations)
            self.assertTrue(t["x [nm]"].between(0, 10000).all())
            self.assertTrue(t["frame"].is_monotonic_increasing)
            wf = tifffile.imread(os.path.join(d, "widefield.tif"))
            self.assertEqual(wf.shape, (5, 93, 93))  # ceil(10 um / 108 nm)
            self.assertEqual(wf.dtype, np.uint16)
            dense = tifffile.imread(os.path.join(self.out, "ground_truth", "dense", f"{int(row.id):04d}.tif"))
            self.assertEqual(dense.shape, (500, 500))
            self.assertEqual(dense.sum(), row.localizations)

    def test_same_seed_same_bytes(self):
        other = os.path.join(self.dir, "again")
        run("simulate", "--config", self.ini, "-o", other, "-q", check=0)
        for sub in ("fov/0004/locs.csv", "fov/0004/widefield.tif", "ground_truth/positions.csv"):
            with open(os.path.join(self.out, sub), "rb") as a, open(os.path.join(other, sub), "rb") as b:
                self.assertEqual(a.read(), b.read(), sub)

    def test_bad_options_are_named(self):
        p = run("simulate", "-o", os.path.join(self.dir, "x"), "--structure", "actin", check=1)
        self.assertIn("actin", p.stderr)
        # A typo's grid of 10^10 FoVs: refused by name (it ran out of memory, an "internal error").
        p = run("simulate", "-o", os.path.join(self.dir, "x"), "--rows", "100000", "--cols", "100000", check=1)
        self.assertIn("a grid of 100000 x 100000 = 10000000000 FoVs; at most 1000000 FoVs", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "x")))
        p = run("simulate", "-o", os.path.join(self.dir, "x"), "--overlap-um", "30", "--fov-um", "10", check=1)
        self.assertIn("overlap", p.stderr)
        # Values beyond any specimen or microscope (a slipped unit or exponent) are refused at once,
        # where they exhausted memory (bad_alloc) or ran for minutes filling the disk.
        for args, said in ((("--frames", "2000000000"), "--frames 2000000000 is beyond any acquisition (at most 10000000)"),
                           (("--labels-per-um", "1e9"), "--labels-per-um 1000000000 is beyond any labelling"),
                           (("--sigma-loc-nm", "1e6"), "--sigma-loc-nm 1000000 is beyond any localization precision"),
                           (("--detections-per-label", "1e9"), "--detections-per-label 1000000000 is beyond any blinking"),
                           (("--false-per-um2-per-frame", "1e9"), "beyond any false-detection rate"),
                           (("--na", "2"), "--na 2 is beyond any objective's numerical aperture"),
                           (("--pixel-nm", "0.001"), "--fov-um 25 at --pixel-nm 0.001 makes images of 25000000 px square"),
                           (("--camera-pixel-nm", "0.01"), "--camera-pixel-nm 0.01 is below 10 nm"),
                           (("--fov-um", "900", "--pixel-nm", "1"), "--fov-um 900 at --pixel-nm 1 makes images of 900000 px")):
            p = run("simulate", "-o", os.path.join(self.dir, "x"), *args, check=1)
            self.assertIn(said, p.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.dir, "x")))
        # A stage error that the default registration search cannot cover is said, with the search to use.
        p = run("simulate", "-o", os.path.join(self.dir, "j"), "--rows", "1", "--cols", "2", "--fov-um", "5",
                "--jitter-um", "1", "-q", check=0)
        self.assertIn("run this campaign with --search-um 4.5", p.stderr)
        # Widefields clipped at the camera's ceiling are said with their share of pixels (it read "1e+02%").
        p = run("simulate", "-o", os.path.join(self.dir, "sat"), "--rows", "1", "--cols", "2", "--fov-um", "5",
                "--background-photons", "100000", "-q", check=0)
        self.assertIn("2 of 2 FoVs' widefields have pixels at the camera's 65535 ADU ceiling (up to 100% of a FoV's pixels",
                      p.stderr)



class InitCampaign(unittest.TestCase):
    """A folder of real tables named by row and column from 1, described with init-campaign and
    run as a campaign."""

    def setUp(self):
        self.dir = os.path.join(TMP, "init_" + self.id().split(".")[-1])
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "data", "tables"))

    def table(self, name, dx_nm=0.0):
        with open(EPFL) as f:
            lines = f.read().splitlines()
        with open(os.path.join(self.dir, "data", "tables", name), "w") as f:
            f.write(lines[0] + "\n")
            for line in lines[1:]:
                fr, x, y = line.split(",")
                f.write(f"{fr},{float(x) + dx_nm},{y}\n")

    def test_slips_on_a_run_with_results_are_named_and_change_nothing(self):
        data = os.path.join(self.dir, "data")
        for c in (1, 2):
            self.table(f"r01_c{c:02d}.csv")
        run("init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
            "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=0)
        out = os.path.join(self.dir, "out")
        run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--threads", "1", check=0)
        config = open(os.path.join(out, "config.ini"), "rb").read()
        # A mistyped model is a missing model (exit 1), not "results made with other settings".
        p = run("run", "--campaign", data, "-o", out, "--model", "anet-microtubules-ngf16", check=1)
        self.assertIn("--model anet-microtubules-ngf16: file not found", p.stderr)
        self.assertNotIn("other settings", p.stderr)
        # A run refused where its GPU is looked for leaves the output's configuration alone (status
        # compares the mosaic with it).
        p = run("run", "--campaign", data, "-o", out, "--device", "cuda", "--search-um", "3", check=3)
        self.assertIn("no GPU is visible", p.stderr)
        self.assertEqual(open(os.path.join(out, "config.ini"), "rb").read(), config)
        # The campaign's description file for its folder: said how to give it.
        for cmd in (["run", "-o", out], ["train", "-o", os.path.join(self.dir, "m.h5"), "--dry-run"]):
            p = run(cmd[0], "--campaign", os.path.join(data, "campaign.ini"), *cmd[1:], check=1)
            self.assertIn("is a file: give the campaign's folder (the one holding campaign.ini and positions.csv): --campaign " +
                          data, p.stderr)

    def test_tables_kept_elsewhere_are_found_by_an_absolute_pattern(self):
        # Data on another mount, the description in a folder of its own: the pattern is taken as it
        # is, as run reads it (the folder was put before it: "matches no file"; probe99).
        for c in (1, 2):
            self.table(f"r01_c{c:02d}.csv")
        desc = os.path.join(self.dir, "description")
        os.makedirs(desc)
        pattern = os.path.join(self.dir, "data", "tables", "r{row+1:02d}_c{col+1:02d}.csv")
        args = ["init-campaign", desc, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", pattern, "--no-widefield"]
        # A camera pixel in um is refused before anything is written, with the value in nm.
        p = run(*args, "--camera-pixel-nm", "0.108", check=1)
        self.assertIn("--camera-pixel-nm 0.108 is below 10 nm", p.stderr)
        self.assertIn("Give nm (0.108 um is 108 nm)", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(desc, "campaign.ini")))
        p = run(*args, check=0)
        self.assertIn("2 FoV(s) on a 1 x 2 grid", p.stdout)
        with open(os.path.join(desc, "campaign.ini")) as f:
            self.assertIn("table = " + pattern, f.read())

    def test_a_folder_of_tables_becomes_a_campaign_that_runs(self):
        data = os.path.join(self.dir, "data")
        for c in (1, 2):
            self.table(f"r01_c{c:02d}.csv")
        args = ["init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield"]
        p = run(*args, check=0)
        self.assertIn("2 FoV(s) on a 1 x 2 grid (0 with a widefield)", p.stdout)
        self.assertIn("annamosaic run --campaign " + data, p.stdout)
        self.assertIn("wrote " + os.path.join(data, "positions.csv"), p.stdout)
        with open(os.path.join(data, "positions.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([(r["id"], r["row"], r["col"], float(r["x_um"])) for r in rows],
                         [("0", "0", "0", 0.0), ("1", "0", "1", 27.0)])
        with open(os.path.join(data, "campaign.ini")) as f:
            ini = f.read()
        self.assertIn("widefield = none", ini)
        self.assertIn("# camera-pixel-nm = 108", ini)  # a default nobody chose stays a comment
        # A second init does not replace the description; --force does.
        p = run(*args, check=1)
        self.assertIn("campaign.ini exists", p.stderr)
        p = run(*args, "--force", check=0)
        self.assertIn("replaced the earlier " + os.path.join(data, "positions.csv"), p.stdout)  # and says so
        # The FoV stage runs on it as on a simulated campaign.
        out = os.path.join(self.dir, "out")
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--threads", "1", check=0)
        self.assertNotIn("no FoV has a widefield file", p.stdout + p.stderr)  # widefield = none says so
        with open(os.path.join(out, "manifest.jsonl")) as f:
            done = [l for l in f if '"done"' in l]
        self.assertEqual(len(done), 2, p.stdout + p.stderr)
        # Each result says how the A-net made it, and by which annamosaic.
        with h5py.File(os.path.join(out, "fov", "0000.h5"), "r") as f:
            self.assertEqual(f.attrs["inference"], b"cpu fp32, whole FoV")
            self.assertTrue(f.attrs["software"].startswith(b"annamosaic "))
        # A campaign half made elsewhere (another device or precision, as its manifest says): said.
        with open(os.path.join(out, "manifest.jsonl")) as f:
            lines = [json.loads(l) for l in f]
        for rec in lines:
            if rec["id"] == 1:
                rec["extra"]["inference"] = "cuda bf16, whole FoV"
        with open(os.path.join(out, "manifest.jsonl"), "w") as f:
            f.write("".join(json.dumps(rec) + "\n" for rec in lines))
        # Without a widefield the mosaic has the reconstruction alone: no channels of zeros for
        # the error map and widefield it cannot have.
        p = run("run", "--campaign", data, "-o", out, "--stage", "stitch", "--threads", "1", check=0)
        self.assertIn("the FoV results were made in 2 ways: 1 FoV(s) cpu fp32, whole FoV (e.g. FoV 0); 1 FoV(s) cuda "
                      "bf16, whole FoV (e.g. FoV 1); their reconstructions differ beyond rounding", p.stderr)
        self.assertIn("reconstruction channel only", p.stdout + p.stderr)
        # The EPFL table spans ~5 um of these 30 um fields: is fov-um right? (a warning: a small
        # cell alone in each field is possible).
        self.assertIn("2 of the 2 FoVs done have all their localizations within a third of their 30 um field", p.stderr)
        with h5py.File(os.path.join(out, "mosaic.ims"), "r") as f:
            self.assertEqual(list(f["DataSet/ResolutionLevel 0/TimePoint 0"]), ["Channel 0"])
            self.assertEqual(b"".join(f["DataSetInfo/Channel 0"].attrs["Name"]), b"reconstruction")
        with open(os.path.join(out, "mosaic.xml")) as f:
            self.assertEqual(f.read().count("<ViewSetup>"), 1)

    def test_a_widefield_pattern_that_names_no_tiff_is_refused(self):
        # The table's pattern given as the widefield's, or previews for widefields: init said
        # nothing, run ignored every widefield FoV by FoV and reported success (probe64).
        data = os.path.join(self.dir, "data")
        for c in (1, 2):
            self.table(f"r01_c{c:02d}.csv")
            with open(os.path.join(data, "tables", f"r01_c{c:02d}.png"), "wb") as f:
                f.write(b"\x89PNG\r\n\x1a\n" + bytes(64))
        args = ["init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv"]
        p = run(*args, "--widefield", "tables/r{row+1:02d}_c{col+1:02d}.csv", check=1)
        self.assertIn("--widefield: 'tables/r{row+1:02d}_c{col+1:02d}.csv' names the same files as --table", p.stderr)
        p = run(*args, "--widefield", "tables/r{row+1:02d}_c{col+1:02d}.png", check=1)
        self.assertIn("--widefield: none of the 2 files 'tables/r{row+1:02d}_c{col+1:02d}.png' names is a readable TIFF",
                      p.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "campaign.ini")))
        # A --widefield that finds no file at all (here {id} for ids written without 4 digits): refused
        # with the pattern that finds them; before, the campaign was written and run said "finished"
        # with every widefield unused (probe72).
        os.makedirs(os.path.join(data, "wf"))
        for i in (0, 1):
            tifffile.imwrite(os.path.join(data, "wf", f"pos{i}.tif"), np.full((5, 278, 278), 100, np.uint16))
        p = run(*args, "--widefield", "wf/pos{id}.tif", check=1)
        self.assertIn("--widefield: 'wf/pos{id}.tif' finds no file (looked for " + data + "/wf/pos0000.tif, ...): "
                      "--widefield 'wf/pos{id:d}.tif' finds some (ids not 4 digits): give the widefield TIFFs' pattern", p.stderr)
        self.assertIn("nothing was written", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "campaign.ini")))
        # Single images where --widefield-frames 3-5 asks for stacks: said once here (run said it per FoV).
        # Their resolution tags disagree (108 and 110 nm): both files are named, not only the first's value.
        for c, nm in ((1, 108), (2, 110)):
            tifffile.imwrite(os.path.join(data, "tables", f"r01_c{c:02d}.tif"), np.full((278, 278), 100, np.uint16),
                             resolution=(1e7 / nm, 1e7 / nm), resolutionunit="CENTIMETER")
        p = run(*args, "--widefield", "tables/r{row+1:02d}_c{col+1:02d}.tif", check=0)
        self.assertIn("2 widefield(s) have fewer pages than --widefield-frames 3-5 reaches (e.g. ", p.stderr)
        self.assertRegex(p.stderr, r"they or the images' sizes differ \(\S*r01_c01\.tif: 108 nm on 278 x 278 px; "
                                   r"\S*r01_c02\.tif: 110 nm on 278 x 278 px\)")

    def test_the_positions_file_campaign_ini_names_is_the_one_run_reads(self):
        # A microscope's measured positions kept under their own name (positions = stage.csv): run
        # refused the campaign as "positions.csv missing" (probe64).
        data = os.path.join(self.dir, "data")
        for c in (1, 2):
            self.table(f"r01_c{c:02d}.csv")
        run("init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
            "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=0)
        with open(os.path.join(data, "positions.csv")) as f:
            nominal = f.read()
        measured = nominal.replace(",27.0000,", ",27.4000,")
        self.assertNotEqual(measured, nominal)
        os.remove(os.path.join(data, "positions.csv"))
        with open(os.path.join(data, "stage.csv"), "w") as f:
            f.write(measured)
        ini = os.path.join(data, "campaign.ini")
        text = replace_in(ini, "positions = positions.csv", "positions = stage.csv\noff-grid = place")
        out = os.path.join(self.dir, "out")
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--threads", "1", check=0)
        with open(os.path.join(out, "manifest.jsonl")) as f:
            self.assertEqual(sum('"done"' in l for l in f), 2, p.stderr)
        with h5py.File(os.path.join(out, "fov", "0001.h5"), "r") as f:  # the measured position, not the nominal 27
            self.assertAlmostEqual(float(f.attrs["x_um"]), 27.4, places=6)
        # init-campaign --force over it says the measured positions give way to nominal ones.
        init = ["init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", "--force"]
        p = run(*init, check=0)
        self.assertIn("positions stage.csv -> positions.csv (the nominal grid's; the measured ones are no longer used), "
                      "off-grid place -> (not set: the nominal grid needs none)", p.stderr)
        # Measured positions written into positions.csv itself are kept, not overwritten (probe65); the
        # nominal grid written again is replaced as it is.
        with open(os.path.join(data, "positions.csv"), "w") as f:
            f.write(measured)
        p = run(*init, check=0)
        kept = [n for n in os.listdir(data) if n.startswith("positions.earlier-")]
        self.assertEqual(len(kept), 1, os.listdir(data))
        with open(os.path.join(data, kept[0])) as f:
            self.assertEqual(f.read(), measured)
        self.assertIn("held other positions than the nominal grid's (measured ones?): kept as", p.stderr)
        run(*init, check=0)
        self.assertEqual(len([n for n in os.listdir(data) if n.startswith("positions.earlier-")]), 1)
        with open(ini, "w") as f:
            f.write(text.replace("positions = positions.csv", "positions = stage.csv"))
        # Gone: named as campaign.ini names it.
        os.remove(os.path.join(data, "stage.csv"))
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--threads", "1", check=3)
        self.assertIn("stage.csv: missing, but campaign.ini is there (its `positions`)", p.stderr)

    def test_the_first_frames_number_is_the_campaigns_not_guessed_per_table(self):
        # Two tables of one acquisition software, one of which happens to have a localization in
        # frame 0: guessed per table, their `first:100` windows would be a frame apart.
        data = os.path.join(self.dir, "data")
        self.table("r01_c01.csv")  # starts at frame 1
        with open(EPFL) as f:
            lines = f.read().splitlines()
        with open(os.path.join(data, "tables", "r01_c02.csv"), "w") as f:
            f.write(lines[0] + "\n" + "".join(f"{int(fr) - 1},{x},{y}\n" for fr, x, y in (l.split(",") for l in lines[1:])))
        args = ["init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield"]
        # init-campaign sees the frame 0 in a sampled table and writes the campaign's frame base.
        p = run(*args, check=0)
        self.assertIn("frame-base = 0: " + data + "/tables/r01_c02.csv starts at frame 0", p.stderr)
        ini = text_of(os.path.join(data, "campaign.ini"))
        self.assertIn("\nframe-base = 0\n", ini)
        out = os.path.join(self.dir, "out")
        run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--frames", "first:100", "--threads", "1", check=0)
        out_all = os.path.join(self.dir, "out_all")
        run("run", "--campaign", data, "-o", out_all, "--stage", "fovs", "--threads", "1", check=0)
        for fov in ("0000", "0001"):  # one window for both: frames [0, 100)
            with h5py.File(os.path.join(out, "fov", fov + ".h5"), "r") as f:
                self.assertEqual((f.attrs["frames_first"], f.attrs["frames_end"]), (0, 100), fov)
        # Without it (a hand-written campaign.ini), each table's first frame is guessed: the run
        # says that the guesses differ, naming a table of each kind and the setting.
        with open(os.path.join(data, "campaign.ini"), "w") as f:
            f.write(ini.replace("frame-base = 0\n", ""))
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--frames", "first:100", check=2)
        self.assertIn("holds FoV results made with other settings in " + data + "/campaign.ini (frame-base 0 -> \"per table\")",
                      p.stderr)
        # Results of every frame do not depend on it: reused.
        p = run("run", "--campaign", data, "-o", out_all, "--stage", "fovs", "--threads", "1", check=0)
        self.assertIn("2 already done", p.stderr)
        out2 = os.path.join(self.dir, "out2")
        p = run("run", "--campaign", data, "-o", out2, "--stage", "fovs", "--frames", "first:100", "--threads", "1", check=0)
        self.assertIn("the tables do not agree on the first frame's number: 1 with a frame 0 (e.g. " + data +
                      "/tables/r01_c02.csv) count --frames first:100 from 0, 1 without (e.g. " + data +
                      "/tables/r01_c01.csv) from 1: their windows are one frame apart", p.stderr)
        self.assertIn("Set frame-base = 0 (or 1) in campaign.ini", p.stderr)
        with h5py.File(os.path.join(out2, "fov", "0000.h5"), "r") as f:
            self.assertEqual(f.attrs["frames_first"], 1)
        # Said as 1 where a table has frame 0: that frame is outside every window but `all`.
        p = run(*args, "--frame-base", "1", "--force", check=0)
        self.assertIn("replacing its description changes frame-base (not set) -> 1", p.stderr)
        p = run("run", "--campaign", data, "-o", os.path.join(self.dir, "out3"), "--stage", "fovs", "--frames", "first:100",
                "--threads", "1", check=0)
        self.assertIn(data + "/tables/r01_c02.csv: the table has frame 0, but campaign.ini says frame-base = 1", p.stderr)
        self.assertIn("(if the software counts frames from 0, set frame-base = 0 there)", p.stderr)
        self.assertNotIn("r01_c01.csv: the table has frame 0", p.stderr)
        p = run(*args, "--frame-base", "2", "--force", check=1)
        self.assertIn("--frame-base must be 0 or 1", p.stderr)
        p = run("render", EPFL, "--frame-base", "2", "-o", os.path.join(self.dir, "r.tif"), check=1)
        self.assertIn("--frame-base must be 0 or 1", p.stderr)

    def test_folder_names_with_comment_marks_quotes_and_dollars_survive_config_files(self):
        # Folder names a facility may give (a '#' or ';' between blanks, a '$', quotes, a space at
        # the end): the campaign.ini and config.ini written for them read back as they were, so
        # status and a rerun from config.ini find the same campaign and output.
        data = os.path.join(self.dir, "Plate # 2 ; $HOME it's")
        os.makedirs(os.path.join(data, "tables"))
        with open(EPFL) as f:
            epfl = f.read()
        for c in (1, 2):
            with open(os.path.join(data, "tables", f"r01_c{c:02d}.csv"), "w") as f:
                f.write(epfl)
        p = run("init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=0)
        self.assertIn("name = \"Plate # 2 ; \\$HOME it's\"\n", text_of(os.path.join(data, "campaign.ini")))
        out = os.path.join(self.dir, 'res ; "2" ')
        run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--threads", "1", check=0)
        self.assertIn("output = '" + out + "'\n", text_of(os.path.join(out, "config.ini")))
        p = run("status", out, check=75, cwd="/")
        self.assertIn("(campaign " + data + ": 2 FoVs, 1 x 2)", p.stdout)
        self.assertIn("FoVs finished, the mosaic is not made yet", p.stdout)
        # A run from its config.ini, elsewhere, is the same run (nothing made under a cut name).
        p = run("run", "--config", os.path.join(out, "config.ini"), "--stage", "fovs", check=0, cwd="/")
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(["data", os.path.basename(data), os.path.basename(out)]))

    def test_a_named_pipe_or_a_link_to_nothing_fails_its_fov_without_waiting(self):
        data = os.path.join(self.dir, "data")
        self.table("r01_c01.csv")
        self.table("r01_c02.csv")
        self.table("r01_c03.csv")
        run("init-campaign", data, "--rows", "1", "--cols", "3", "--fov-um", "30", "--overlap-um", "3",
            "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=0)
        # A table replaced by a pipe (opening it would wait for a writer forever) and one by a
        # link into a share that is not mounted.
        os.remove(os.path.join(data, "tables", "r01_c02.csv"))
        os.mkfifo(os.path.join(data, "tables", "r01_c02.csv"))
        os.remove(os.path.join(data, "tables", "r01_c03.csv"))
        os.symlink("/mnt/not-mounted/r01_c03.csv", os.path.join(data, "tables", "r01_c03.csv"))
        out = os.path.join(self.dir, "out")
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--threads", "1", timeout=300)
        self.assertIn(data + "/tables/r01_c02.csv: is a named pipe (FIFO), which would be read only when something "
                      "writes to it, not a table file", p.stderr)
        self.assertIn(data + "/tables/r01_c03.csv: is a link to /mnt/not-mounted/r01_c03.csv, which does not exist",
                      p.stderr)
        with open(os.path.join(out, "manifest.jsonl")) as f:
            status = {json.loads(l)["id"]: json.loads(l)["status"] for l in f}
        self.assertEqual(status, {0: "done", 1: "failed", 2: "failed"})
        # The campaign's own files and an options file as pipes: refused at once, by name.
        os.rename(os.path.join(data, "positions.csv"), os.path.join(self.dir, "positions.csv"))
        os.mkfifo(os.path.join(data, "positions.csv"))
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", timeout=120)
        self.assertIn(data + "/positions.csv: is a named pipe (FIFO)", p.stderr)
        os.mkfifo(os.path.join(self.dir, "run.ini"))
        p = run("run", "--config", os.path.join(self.dir, "run.ini"), check=1, timeout=120)
        self.assertIn("--config " + self.dir + "/run.ini: is a named pipe (FIFO)", p.stderr)

    def test_bad_tables_fail_their_fov_by_name_and_all_bad_makes_no_mosaic(self):
        data = os.path.join(self.dir, "data")
        for c in (1, 2, 3):
            self.table(f"r01_c{c:02d}.csv")
        run("init-campaign", data, "--rows", "1", "--cols", "3", "--fov-um", "8", "--overlap-um", "1",
            "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=0)
        tables = os.path.join(data, "tables")
        # A Windows export's Latin-1 header (not UTF-8) in a unit nobody reads (Angstrom): that FoV
        # fails by name, the run goes on. (A Latin-1 "X (\xb5m)" is read as micrometres.)
        with open(os.path.join(tables, "r01_c02.csv"), "rb") as f:
            body = f.read().split(b"\n", 1)[1]
        with open(os.path.join(tables, "r01_c02.csv"), "wb") as f:
            f.write(b"frame,X (\xc5),Y (\xc5)\n" + body)
        # A malformed row dropped by --skip-bad-rows is said, not silent.
        with open(os.path.join(tables, "r01_c03.csv"), "a") as f:
            f.write("7,nan,100\n")
        # Results never go among the inputs, nor into a file.
        p = run("run", "--campaign", data, "-o", data, check=1)
        self.assertIn("is the campaign folder itself", p.stderr + p.stdout)
        p = run("run", "--campaign", data, "-o", tables, check=1)
        self.assertIn("holds the campaign's input " + os.path.join(tables, "r01_c01.csv") + " where the run writes its results",
                      p.stderr + p.stdout)
        afile = os.path.join(self.dir, "afile")
        open(afile, "w").close()
        # A usage error like the two above (exit 1), whatever the wrong --output is.
        p = run("run", "--campaign", data, "-o", afile, check=1)
        self.assertIn("afile is a file, not a folder", p.stderr + p.stdout)
        out = os.path.join(self.dir, "out")
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--threads", "1", "--skip-bad-rows", check=0)
        log = p.stdout + p.stderr
        self.assertIn("r01_c02.csv:1: missing required column 'x'", log)
        self.assertRegex(log, r"FoV 2: .*r01_c03.csv: skipped 1 malformed row\(s\) of \d+ \(--skip-bad-rows\); first: .*r01_c03.csv:\d+")
        with open(os.path.join(out, "manifest.jsonl"), encoding="utf-8") as f:
            recs = {r["id"]: r for r in map(json.loads, f)}
        self.assertEqual({i: recs[i]["status"] for i in recs}, {0: "done", 1: "failed", 2: "done"})
        self.assertIn("X (\\xc5)", recs[1]["reason"])  # the byte that is not UTF-8, escaped as what it is
        self.assertIn("skipped 1 malformed row", " ".join(recs[2]["extra"]["warnings"]))
        # Stitched: the failed FoV's edges are not registered, and layout.json says why.
        run("run", "--campaign", data, "-o", out, "--stage", "stitch", "--threads", "1", check=5)
        with open(os.path.join(out, "layout.json")) as f:
            skipped = [e for e in json.load(f)["edges"] if e.get("skipped")]
        self.assertEqual(sorted((e["a"], e["b"]) for e in skipped), [(0, 1), (1, 2)])
        self.assertTrue(all(e["rejected"].startswith("not registered: a tile of it takes no part") for e in skipped), skipped)
        # Every table wrong in the same way: no mosaic of failed tiles, the reason said once.
        for c in (1, 2, 3):
            with open(os.path.join(tables, f"r01_c{c:02d}.csv"), encoding="latin-1") as f:
                rows = f.read().split("\n", 1)[1]
            with open(os.path.join(tables, f"r01_c{c:02d}.csv"), "w") as f:
                f.write("T,PosX,PosY\n" + rows)
        out = os.path.join(self.dir, "out2")
        p = run("run", "--campaign", data, "-o", out, "--threads", "1", check=5)
        self.assertRegex(p.stdout + p.stderr, r"every FoV failed, so no mosaic was made; 3 of the 3 for this kind of reason: "
                                              r".*r01_c0\d.csv:1: missing required column 'x' \(header has 'T', 'PosX'")
        self.assertFalse(os.path.exists(os.path.join(out, "mosaic.ims")))
        self.assertTrue(os.path.exists(os.path.join(out, "qc", "qc.json")))
        p = run("status", out, check=5)
        self.assertIn("every FoV failed, so no mosaic was made", p.stdout)

    def test_tables_in_stage_coordinates_make_a_run_end_with_5(self):
        data = os.path.join(self.dir, "data")
        # FoV 0 at the stage's origin looks right; FoVs 1 and 2 lose 64% and 76% of their
        # localizations past their 8 um field.
        for c, dx_nm in ((1, 0.0), (2, 5500.0), (3, 6000.0)):
            self.table(f"r01_c{c:02d}.csv", dx_nm=dx_nm)
        run("init-campaign", data, "--rows", "1", "--cols", "3", "--fov-um", "8", "--overlap-um", "1",
            "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=0)
        p = run("run", "--campaign", data, "-o", os.path.join(self.dir, "out"), "--threads", "1", check=5)
        self.assertRegex(p.stderr, r"2 of the 3 FoVs done lost more than half their localizations outside their field \(e\.g\. "
                                   r".*r01_c0[23]\.csv: \d+ of \d+ localizations \(\d+\.\d%\) lie outside")
        self.assertIn("the tables are most likely in the stage's (slide's) coordinates", p.stderr)
        self.assertIn("most FoVs lost most of their localizations outside their field: tables in stage coordinates, or "
                      "fov-um too small (said above) (exit 5)", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "out", "mosaic.ims")))  # made, as said
        # status says it too (a script asking it must not take the campaign for good).
        p = run("status", os.path.join(self.dir, "out"), check=5)
        self.assertIn("state:   finished, but most FoVs lost most of their localizations outside their field", p.stdout)

    def test_stage_coordinates_and_missing_tables_are_said(self):
        data = os.path.join(self.dir, "data")
        self.table("r01_c01.csv", dx_nm=200000.0)  # in stage coordinates: 200 um to the right
        # Wholly outside the field: every FoV would fail, so nothing is written.
        p = run("init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=2)
        self.assertIn("wholly outside its FoV's 0..30000 nm field", p.stderr)
        self.assertIn("not the stage's", p.stderr)
        self.assertIn("1 of 2 grid cells have no table and are left out (tables/r01_c02.csv)", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "campaign.ini")))
        # Stage coordinates hide in the first FoV (the stage's origin): the last FoV's table says it.
        self.table("r01_c01.csv")
        self.table("r01_c02.csv", dx_nm=200000.0)
        p = run("init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=2)
        self.assertIn("r01_c02.csv: localizations span x 2", p.stderr)
        self.assertIn("wholly outside its FoV's 0..30000 nm field", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "campaign.ini")))
        # One table outside among others in their fields is that table's problem: its FoV will fail,
        # the campaign is written (not "every FoV would fail").
        self.table("r01_c03.csv")
        p = run("init-campaign", data, "--rows", "1", "--cols", "3", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=0)
        self.assertRegex(p.stderr, r"r01_c02\.csv: localizations span x 2\d+\.\.\d+ nm, .* wholly outside its FoV's "
                                   r"0\.\.30000 nm field, while most tables sampled lie in their fields: its FoV will "
                                   r"fail as it is")
        self.assertNotIn("every FoV would fail", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(data, "campaign.ini")))
        for written in ("campaign.ini", "positions.csv"):
            if os.path.exists(os.path.join(data, written)):
                os.remove(os.path.join(data, written))
        os.remove(os.path.join(data, "tables", "r01_c03.csv"))
        os.remove(os.path.join(data, "tables", "r01_c02.csv"))
        # Stage coordinates of a 1 x 3 grid (8 um FoVs, 7 um apart): the middle table mostly outside its
        # field, the last wholly: refused (probe81: the middle one counted as in its field, let through).
        for c in (1, 2, 3):
            self.table(f"r01_c{c:02d}.csv", dx_nm=7000.0 * (c - 1))
        p = run("init-campaign", data, "--rows", "1", "--cols", "3", "--fov-um", "8", "--overlap-um", "1",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=2)
        self.assertIn("r01_c03.csv: localizations span x 14", p.stderr)
        self.assertIn("2 of the 3 tables sampled lie wholly or mostly outside their fields, as tables in the stage's "
                      "coordinates do", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "campaign.ini")))
        os.remove(os.path.join(data, "tables", "r01_c03.csv"))
        os.remove(os.path.join(data, "tables", "r01_c02.csv"))
        # In the FoV's coordinates but wider than --fov-um (the EPFL table spans ~6.4 um): said, written.
        self.table("r01_c01.csv")
        p = run("init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "4", "--overlap-um", "1",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield", check=0)
        self.assertRegex(p.stderr, r"\d+\.\d% of them lie outside the 4000 nm field \(--fov-um 4\)")
        self.assertTrue(os.path.exists(os.path.join(data, "campaign.ini")))
        # The campaign folder is not where status looks: said, with where to look.
        p = run("status", data, check=2)
        self.assertIn("is a campaign folder (the run's inputs), not an output folder", p.stdout)
        p = run("init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/nothing_{id}.csv", "--force", check=1)
        self.assertIn("tables/nothing_{id}.csv: the table pattern matches no file in the folder", p.stderr)
        self.assertIn("; " + data + " holds e.g. ", p.stderr)  # the real names, to write the pattern from
        self.assertIn("tables/r01_c01.csv", p.stderr)
        # Folders named by the unpadded id (fov/0/, fov/1/): the pattern that finds them offered.
        for i in (0, 1):
            os.makedirs(os.path.join(data, "fov", str(i)), exist_ok=True)
            shutil.copy(os.path.join(data, "tables", "r01_c01.csv"), os.path.join(data, "fov", str(i), "locs.csv"))
        p = run("init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "fov/{id}/locs.csv", "--no-widefield", "--force", check=1)
        self.assertIn(": --table 'fov/{id:d}/locs.csv' finds some (ids not 4 digits)", p.stderr)

    def test_pattern_and_unit_slips_are_said(self):
        data = os.path.join(self.dir, "data")
        for r in (1, 2):
            for c in (1, 2):
                self.table(f"r{r:02d}_c{c:02d}.csv")
        grid = ["--rows", "2", "--cols", "2", "--fov-um", "30", "--overlap-um", "3", "--no-widefield"]
        # Names counted from 1, the pattern from 0: one cell found (r01_c01 at cell 1,1), refused with
        # the slip named; before, that campaign was written (probe72).
        p = run("init-campaign", data, *grid, "--table", "tables/r{row:02d}_c{col:02d}.csv", check=1)
        self.assertIn("finds a table for 1 of the 4 grid cells, but 4 with every row, col and id counted one higher", p.stderr)
        self.assertIn("{row+1:02d}); nothing was written", p.stderr)
        self.assertNotIn("--rows / --cols", p.stderr)  # not also the fix of another slip
        self.assertFalse(os.path.exists(os.path.join(data, "campaign.ini")))
        # A field the pattern language does not know is said as such, for --widefield too.
        p = run("init-campaign", data, *grid[:-1], "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv",
                "--widefield", "wf/r{rowx}.tif", "--force", check=1)
        self.assertIn("unknown field {rowx}", p.stderr)
        # A link to a share that is not mounted reads as a missing file unless said.
        os.remove(os.path.join(data, "tables", "r02_c02.csv"))
        os.symlink("/nonexistent/share/r02_c02.csv", os.path.join(data, "tables", "r02_c02.csv"))
        # ... and a table that is a folder (an export that made one) as a table that is not there, said.
        os.remove(os.path.join(data, "tables", "r01_c02.csv"))
        os.makedirs(os.path.join(data, "tables", "r01_c02.csv"))
        # Coordinates in camera pixels under an nm header: all in one corner of the field.
        with open(EPFL) as f:
            lines = f.read().splitlines()
        with open(os.path.join(data, "tables", "r01_c01.csv"), "w") as f:
            f.write(lines[0] + "\n")
            for line in lines[1:]:
                fr, x, y = line.split(",")
                f.write(f"{fr},{float(x) / 100},{float(y) / 100}\n")
        p = run("init-campaign", data, *grid, "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--force", check=0)
        self.assertIn("links to nothing, counted as missing: " + os.path.join(data, "tables", "r02_c02.csv") +
                      " -> /nonexistent/share/r02_c02.csv", p.stderr)
        self.assertIn("of the FoVs' files are not files, counted as missing: " + os.path.join(data, "tables", "r01_c02.csv") +
                      " is a folder", p.stderr)
        self.assertIn("a corner of the 30000 nm field: are the coordinates in nm", p.stderr)
        # Paths users copy from the output are quoted for the shell.
        spaced = os.path.join(self.dir, "my data")
        shutil.copytree(data, spaced, symlinks=True)
        p = run("init-campaign", spaced, *grid, "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--force", check=0)
        self.assertIn(f"annamosaic run --campaign '{spaced}' -o OUT", p.stdout)

    def test_the_tables_unit_is_written_to_the_campaign_and_every_run_reads_it(self):
        data = os.path.join(self.dir, "data")
        with open(EPFL) as f:
            lines = f.read().splitlines()[1:]
        for c in (1, 2):  # micrometres under a header that names no unit (x, y)
            with open(os.path.join(data, "tables", f"r01_c{c:02d}.csv"), "w") as f:
                f.write("frame,x,y\n" + "".join(f"{fr},{float(x) / 1000:.5f},{float(y) / 1000:.5f}\n"
                                                  for fr, x, y in (l.split(",") for l in lines)))
        args = ["init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "30", "--overlap-um", "3",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--no-widefield"]
        # Read as nm, the tables are a speck in a corner: said, with the option that fixes it.
        p = run(*args, check=0)
        self.assertIn("a corner of the 30000 nm field", p.stderr)
        self.assertIn("x and y columns name no unit: `run` reads them as nm. If they are um or camera pixels, rerun "
                      "with --force --xy-unit um", p.stderr)
        self.assertIn("# xy-unit = nm", text_of(os.path.join(data, "campaign.ini")))
        # Given once here, it is the campaign's: no warning, and `run` needs no option for it.
        p = run(*args, "--xy-unit", "um", "--force", check=0)
        self.assertNotIn("no unit", p.stderr)
        self.assertIn("campaign.ini: replacing its description changes xy-unit (not set) -> um", p.stderr)
        ini = text_of(os.path.join(data, "campaign.ini"))
        self.assertIn("\nxy-unit = um\n", ini)
        out = os.path.join(self.dir, "out")
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", "--threads", "1", check=0)
        self.assertNotIn("corner", p.stderr)
        with open(os.path.join(out, "fov_settings.json")) as f:
            self.assertEqual(json.load(f)["xy-unit"], "um")  # what the FoVs were made with
        # A command line that says otherwise cannot also be meant.
        p = run("run", "--campaign", data, "-o", out, "--xy-unit", "nm", check=1)
        self.assertIn("--xy-unit nm and " + data + "/campaign.ini's xy-unit = um disagree", p.stderr)
        # campaign.ini edited afterwards: the FoVs made in um are not reused as nm ones.
        with open(os.path.join(data, "campaign.ini"), "w") as f:
            f.write(ini.replace("xy-unit = um\n", ""))
        p = run("run", "--campaign", data, "-o", out, "--stage", "fovs", check=2)
        self.assertIn("holds FoV results made with other settings (xy-unit \"um\" -> \"nm\")", p.stderr)
        p = run("status", out, check=2)  # status says what run would refuse
        self.assertIn("state:   cannot be rerun as configured: " + out + ": holds FoV results made with other settings "
                      "(xy-unit \"um\" -> \"nm\")", p.stdout)
        # A configuration whose option disagrees with campaign.ini: run refuses it, and so does status.
        with open(os.path.join(data, "campaign.ini"), "w") as f:
            f.write(ini)
        self.assertIn("state:   FoVs finished, the mosaic is not made yet", run("status", out, check=75).stdout)
        # Earlier versions wrote every option's default into OUT/config.ini: read back, those are no choice.
        with open(os.path.join(out, "config.ini"), "a") as f:
            f.write("xy-unit = nm\ndelimiter = auto\n")
        self.assertIn("state:   FoVs finished, the mosaic is not made yet", run("status", out, check=75).stdout)
        conf = os.path.join(self.dir, "nm.ini")
        with open(conf, "w") as f:
            f.write(f"[run]\ncampaign = {data}\noutput = {out}\nxy-unit = nm\ndelimiter = auto\n")
        p = run("status", conf, check=2)
        self.assertIn("state:   cannot run as configured: --xy-unit nm and " + data + "/campaign.ini's xy-unit = um disagree",
                      p.stdout)
        # Spellings are one: "," is comma, "µm" is um, everywhere.
        p = run(*args, "--xy-unit", "\u00b5m", "--delimiter", ",", "--force", check=0)
        self.assertIn("\nxy-unit = um\ndelimiter = comma\n", text_of(os.path.join(data, "campaign.ini")))
        with open(os.path.join(data, "campaign.ini"), "w") as f:
            f.write(ini)
        # A value run cannot use is named where it is, before any FoV.
        with open(os.path.join(data, "campaign.ini"), "w") as f:
            f.write(ini.replace("xy-unit = um", "xy-unit = mm"))
        line = ini.split("\n").index("xy-unit = um") + 1
        p = run("run", "--campaign", data, "-o", os.path.join(self.dir, "out2"), check=2)
        self.assertIn(f"campaign.ini:{line}: xy-unit must be nm, um or px", p.stderr)
        # Table options init-campaign cannot read the tables with are refused, nothing written.
        with open(os.path.join(data, "campaign.ini"), "w") as f:
            f.write(ini)
        p = run(*args, "--columns", "x", "--force", check=1)
        self.assertIn("--columns: expected ROLE=NAME, got 'x'", p.stderr)
        p = run(*args, "--columns", "x=PosX,y=PosY", "--force", check=2)
        self.assertIn("r01_c01.csv:1: column 'PosX' (for x) is not in the header: 2 table(s) sampled (the first, middle "
                      "and last FoV's), none read: that is how `run` would read them: give the options they need here",
                      p.stderr)
        self.assertIn("nothing was written", p.stderr)
        self.assertEqual(text_of(os.path.join(data, "campaign.ini")), ini)
        # Tables no option given here reads (another export's column names): refused the same way,
        # not written for every FoV to fail; one malformed row is counted, not refused.
        tables = [os.path.join(data, "tables", f"r01_c0{c}.csv") for c in (1, 2)]
        body = text_of(tables[1]).split("\n", 1)[1]
        for table in tables:
            with open(table, "w") as f:
                f.write("T,PosX,PosY\n" + body)
        p = run(*args, "--force", check=2)
        self.assertIn("r01_c01.csv:1: missing required column 'x'", p.stderr)
        self.assertIn("give the options they need here (--columns", p.stderr)
        # One table that cannot be read (an empty corner FoV's empty file) fails its FoV alone: said.
        open(tables[0], "w").close()
        table = tables[1]
        with open(table, "w") as f:
            f.write("frame,x,y\n" + body + "7,oops,1\n")
        p = run(*args, "--xy-unit", "um", "--force", check=0)
        self.assertRegex(p.stderr, r"r01_c02.csv: skipped 1 malformed row\(s\) of \d+ \(--skip-bad-rows\); first: .*"
                                   r"\(`run` stops at such a row unless given --skip-bad-rows\)")
        self.assertRegex(p.stderr, r"r01_c01.csv: .*\(its FoV will fail as it is\)")
        # A header alone (a field where nothing blinked) reads, and its FoV will fail: said too.
        with open(tables[0], "w") as f:
            f.write("frame,x,y\n")
        p = run(*args, "--xy-unit", "um", "--force", check=0)
        self.assertIn("r01_c01.csv: no localizations (no rows) (its FoV will fail as it is", p.stderr)

    def test_widefields_run_cannot_read_and_a_bad_page_range_are_said_at_once(self):
        data = os.path.join(self.dir, "data")
        os.makedirs(os.path.join(data, "wf"))
        for c in (1, 2):
            self.table(f"r01_c{c:02d}.csv")
        tifffile.imwrite(os.path.join(data, "wf", "r01_c01.tif"), np.zeros((5, 2, 60, 60), np.uint16), imagej=True,
                         metadata={"axes": "TCYX"})  # two channels, interleaved page by page
        tifffile.imwrite(os.path.join(data, "wf", "r01_c02.tif"), np.zeros((60, 60, 3), np.uint8), photometric="rgb")
        args = ["init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "6.5", "--overlap-um", "0.5",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--widefield", "wf/r{row+1:02d}_c{col+1:02d}.tif"]
        p = run(*args, "--widefield-frames", "0-2", check=1)
        self.assertIn("--widefield-frames 0-2: expected 'all', 'N', 'N-M' or 'N-' with 1-based page numbers", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "campaign.ini")))
        p = run(*args, check=0)
        self.assertIn("2 widefield(s) of a kind run cannot read, so it will reconstruct those FoVs from their localizations "
                      "alone: " + os.path.join(data, "wf", "r01_c01.tif") + ": an ImageJ hyperstack of 2 channels (averaging "
                      "pages 3-5 would mix them; save the widefield's channel alone); " + os.path.join(data, "wf", "r01_c02.tif") +
                      ": RGB (3 samples per pixel) is not supported", p.stderr)
        self.assertIn("2 FoV(s) on a 1 x 2 grid (2 with a widefield, 2 of them not usable as said above)", p.stdout)

    def test_the_widefields_resolution_tags_give_the_camera_pixel_when_none_is_given(self):
        data = os.path.join(self.dir, "data")
        os.makedirs(os.path.join(data, "wf"))
        for c in (1, 2):
            self.table(f"r01_c{c:02d}.csv")
            # 75 px of 160 nm: a 12 um field, as the FoVs are.
            tifffile.imwrite(os.path.join(data, "wf", f"r01_c{c:02d}.tif"), np.zeros((5, 75, 75), np.uint16),
                             resolution=(62500, 62500), resolutionunit="CENTIMETER")
        args = ["init-campaign", data, "--rows", "1", "--cols", "2", "--fov-um", "12", "--overlap-um", "2",
                "--table", "tables/r{row+1:02d}_c{col+1:02d}.csv", "--widefield", "wf/r{row+1:02d}_c{col+1:02d}.tif"]
        p = run(*args, check=0)
        self.assertIn("camera-pixel-nm 160: from the 2 widefields' resolution tags (75 x 75 px span 12 um", p.stdout + p.stderr)
        self.assertNotIn("would fit", p.stderr)
        self.assertIn("\ncamera-pixel-nm = 160\n", text_of(os.path.join(data, "campaign.ini")))
        # Given, it is what counts (the tags' disagreement is said, as before).
        p = run(*args, "--camera-pixel-nm", "108", "--force", check=0)
        self.assertIn("\ncamera-pixel-nm = 108\n", text_of(os.path.join(data, "campaign.ini")))
        self.assertIn("160 nm would fit", p.stderr)
        self.assertIn("--camera-pixel-nm 108, but all 2 widefields' resolution tags say 160 nm", p.stderr)
        # Without tags, the default taken is said where it is taken (it was only a comment in
        # campaign.ini; probe99): here 111 px of 108 nm span the 12 um FoVs.
        for c in (1, 2):
            tifffile.imwrite(os.path.join(data, "wf", f"r01_c{c:02d}.tif"), np.zeros((5, 111, 111), np.uint16))
        p = run(*args, "--force", check=0)
        self.assertIn("camera-pixel-nm 108 assumed (the default: the widefields carry no usable resolution tags): their "
                      "111 x 111 px then span 12 um, the FoV's 12 um", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
