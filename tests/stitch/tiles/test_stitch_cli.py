"""End-to-end tests of `annamosaic stitch` (jobs/cli/cmd_stitch.cpp) on a small simulated
campaign: outputs read back with tifffile, numpy and json (Debian packages), not our code.
STITCH_BIN is the command, e.g. "build/jobs/cli/annamosaic stitch"."""
import json, math, os, re, shlex, shutil, subprocess, unittest
import numpy as np
import tifffile

BIN = shlex.split(os.environ["STITCH_BIN"])
SIM = os.environ["SIMULATE_BIN"]
TMP = os.environ["STITCH_TMP"]
CAMPAIGN = os.path.join(TMP, "campaign")


def run(*args, check=None, binary=None, cwd=None):
    p = subprocess.run([binary, *args] if binary else [*BIN, *args], capture_output=True, text=True, cwd=cwd)
    if check is not None and p.returncode != check:
        raise AssertionError(f"exit {p.returncode} (wanted {check}) for {args}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


def csv_rows(path):
    import csv
    with open(path) as f:
        yield from csv.DictReader(f)


def setUpModule():
    shutil.rmtree(TMP, ignore_errors=True)
    os.makedirs(TMP)
    run("simulate", "--rows", "2", "--cols", "3", "--fov-um", "8", "--overlap-um", "1", "--jitter-um", "0.15",
        "--cell-fraction", "1", "--cell-spacing-um", "100", "--cell-radius-um", "200", "--gradient", "0",
        "--filaments-per-100um2", "40", "--detections-per-label", "10", "--frames", "200", "--seed", "3",
        "--write-dense", "-q", "-o", CAMPAIGN, check=0, binary=SIM)


class StitchCli(unittest.TestCase):
    def out(self, name):
        d = os.path.join(TMP, self.id().split(".")[-1])
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, name)

    def assertEdgesNearTruth(self, layout_path, truth, kind, tolerance_px, at_least):
        """Every `kind` ("used" or "accepted") edge of layout.json within tolerance_px of the offset
        between the tiles' true positions (truth: id -> (x, y) px), and at least `at_least` of them."""
        with open(layout_path) as fh:
            layout = json.load(fh)
        edges = [e for e in layout["edges"] if e[kind]]
        self.assertGreaterEqual(len(edges), at_least, layout["summary"])
        for e in edges:
            (ax, ay), (bx, by) = truth[e["a"]], truth[e["b"]]
            self.assertLess(np.hypot(e["dx_px"] - (bx - ax), e["dy_px"] - (by - ay)), tolerance_px, e)

    def stitch(self, out, *extra, check=0):
        return run(CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "--channel", "widefield=fov/{id}/widefield.tif@3-5",
                   "--block-px", "256", "--search-um", "0.6", "-q", "-o", out, *extra, check=check)

    def test_a_mosaic_of_the_same_name_and_another_kind_is_said_to_take_over_the_records(self):
        # NAME.tif, then NAME.ims: NAME.config.ini and NAME.png now describe the .ims, while the
        # .tif stays (probe105: said at info level only).
        tif, ims = self.out("m.tif"), self.out("m.ims")
        self.stitch(tif)
        to_ims = [CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "--search-um", "0.6", "-q", "-o", ims]
        p = run(*to_ims, check=0)
        self.assertIn("m.config.ini and the previews beside it described %s, which stays: they will describe %s" % (tif, ims),
                      p.stderr)
        self.assertNotIn("which stays", run(*to_ims, check=0).stderr)  # the same mosaic again: nothing to say

    def test_outputs(self):
        out = self.out("mosaic.tif")
        self.stitch(out)
        d = os.path.dirname(out)
        for f in ("mosaic.tif", "layout.json", "mosaic.png", "mosaic.corner.png", "mosaic.config.ini"):
            self.assertTrue(os.path.exists(os.path.join(d, f)), f)
        with tifffile.TiffFile(out) as tif:
            self.assertTrue(tif.is_bigtiff)
            page = tif.pages[0]
            self.assertTrue(page.is_tiled)
            self.assertEqual(page.tilewidth, 256)
            mosaic = page.asarray()
            desc = page.description
        self.assertEqual(mosaic.dtype, np.uint16)
        self.assertEqual(mosaic.ndim, 3)  # (channels, y, x)
        self.assertEqual(mosaic.shape[0], 2)
        layout = json.load(open(os.path.join(d, "layout.json")))
        self.assertEqual(len(layout["tiles"]), 6)
        self.assertEqual(len(layout["edges"]), 7)
        self.assertGreaterEqual(layout["summary"]["accepted"], 5)
        for e in layout["edges"]:
            for k in ("a", "b", "nominal_dx_px", "accepted", "used"):
                self.assertIn(k, e)
        # Inside a tile, away from the overlaps, the mosaic is the tile quantised with the channel's scale.
        scale = float(re.search(r"channel0 = tiles \(value = stored / ([0-9.eE+-]+)\)", desc).group(1))
        xs = [t["x_px"] for t in layout["tiles"]]
        ys = [t["y_px"] for t in layout["tiles"]]
        # Tiles sit at their rounded positions; the mosaic starts at the smallest of them (its first
        # row and column hold data).
        lround = lambda v: int(math.copysign(math.floor(abs(v) + 0.5), v))  # as C++'s lround
        ox, oy = min(lround(x) for x in xs), min(lround(y) for y in ys)
        t0 = next(t for t in layout["tiles"] if t["id"] == 0)
        x0, y0 = lround(t0["x_px"]) - ox, lround(t0["y_px"]) - oy
        self.assertGreater(mosaic[0, 0, :].max(), 0)
        self.assertGreater(mosaic[0, :, 0].max(), 0)
        tile = tifffile.imread(os.path.join(CAMPAIGN, "ground_truth/dense/0000.tif"))
        want = np.clip(np.rint(tile[100:250, 100:250].astype(np.float64) * scale), 0, 65535)
        got = mosaic[0, y0 + 100:y0 + 250, x0 + 100:x0 + 250]
        np.testing.assert_array_equal(got, want.astype(np.uint16))
        self.assertGreater(mosaic[1].mean(), 0)  # widefield channel resampled and fused

    def test_positions_close_to_truth(self):
        out = self.out("m.tif")
        self.stitch(out, "--layout-only", "--layout", self.out("layout.json"))
        self.assertFalse(os.path.exists(out))
        layout = json.load(open(self.out("layout.json")))
        truth = np.genfromtxt(os.path.join(CAMPAIGN, "ground_truth/positions.csv"), delimiter=",", names=True)
        got = {t["id"]: (t["x_px"], t["y_px"]) for t in layout["tiles"]}
        err = np.array([[got[int(r["id"])][0] - r["x_um"] * 50, got[int(r["id"])][1] - r["y_um"] * 50] for r in truth])
        err -= np.median(err, axis=0)
        self.assertLess(np.abs(err).max(), 1.0, err)

    def test_a_second_stitch_says_which_files_it_replaces(self):
        out = self.out("again.tif")
        self.stitch(out, "--layout-only")
        p = run(CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "--search-um", "0.6", "-o", out, "--layout-only", check=0)
        self.assertIn("replacing 2 file(s) of an earlier stitch: again.config.ini, layout.json", p.stdout + p.stderr)

    def test_a_search_range_in_nm_is_said_and_a_margin_of_1_refused(self):
        # As run: 2500 for 2.5 um searched (limited to what the tiles allow, but said), and an NCC
        # margin that no match can meet.
        out = self.out("nm.tif")
        p = run(CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "--search-um", "2500", "-o", out, "--layout-only",
                check=None)
        self.assertRegex(p.stderr, r"--search-um 2500 is \d+ times the step between tiles \([0-9.]+ um\), beyond any "
                                   r"stage's error: is the value in nm \(2500 nm is 2\.5 um\)\?")
        p = run(CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "--min-ncc-margin", "1", "-o", self.out("m1.tif"),
                "--layout-only", check=1)
        self.assertIn("--min-ncc-margin must be >= 0 and below 1", p.stderr)

    def test_a_repeatable_option_on_the_command_line_replaces_the_files(self):
        ini = self.out("s.ini")
        with open(ini, "w") as f:
            f.write("[stitch]\nchannel = wf=fov/{id}/widefield.tif\nchannel = wf2=fov/{id}/widefield.tif@2\n")
        p = run(CAMPAIGN, "--config", ini, "--tiles", "ground_truth/dense/{id}.tif", "--channel",
                "wf3=fov/{id}/widefield.tif@3", "--search-um", "0.6", "--layout-only", "-o", self.out("m.tif"), check=0)
        self.assertIn("channels: tiles, wf3\n", p.stderr)

    def test_from_layout_gives_the_same_mosaic(self):
        a = self.out("a.tif")
        self.stitch(a)
        b = self.out("b.tif")
        self.stitch(b, "--from-layout", os.path.join(os.path.dirname(a), "layout.json"), "--blend", "linear")
        np.testing.assert_array_equal(tifffile.imread(a), tifffile.imread(b))
        c = self.out("c.tif")
        self.stitch(c, "--blend", "max", "--scale", "tiles=100", "--scale", "widefield=1")
        self.assertTrue("value = stored / 100" in tifffile.TiffFile(c).pages[0].description)

    def test_holes_pixel_positions_and_a_failed_fusion_that_keeps_its_registration(self):
        d = os.path.dirname(self.out("x"))
        tiles = os.path.join(d, "tiles")
        os.makedirs(tiles, exist_ok=True)
        rows = list(csv_rows(os.path.join(CAMPAIGN, "positions.csv")))
        for r in rows:
            if r["id"] != "4":  # tile 4 is missing
                shutil.copy(os.path.join(CAMPAIGN, "ground_truth", "dense", "%04d.tif" % int(r["id"])), tiles)
        # Positions in tile pixels (20 nm), as viewers' stitching tools write them.
        with open(os.path.join(d, "positions_px.csv"), "w") as f:
            f.write("id,row,col,x_px,y_px\n")
            for r in rows:
                f.write("%s,%s,%s,%g,%g\n" % (r["id"], r["row"], r["col"], float(r["x_um"]) / 0.02, float(r["y_um"]) / 0.02))
        args = [d, "--tiles", "tiles/{id}.tif", "--positions", os.path.join(d, "positions_px.csv"), "--search-um", "0.6"]
        p = run(*args, "-o", os.path.join(d, "m.tif"), check=3)
        self.assertIn("1 of the 6 tiles listed in %s have no file (ids 4; %s)" % (os.path.join(d, "positions_px.csv"),
                      os.path.join(tiles, "0004.tif")), p.stderr)
        self.assertIn("--skip-missing", p.stderr)
        # A pattern that cannot be expanded is the option's fault (exit 1), as init-campaign's.
        p = run(d, "--tiles", "{idx}.tif", "--positions", os.path.join(d, "positions_px.csv"), "-o", os.path.join(d, "m.ims"),
                check=1)
        self.assertIn("--tiles {idx}.tif: unknown field {idx}", p.stderr)
        # A fusion option in error is refused before the registration.
        p = run(*args, "--skip-missing", "--block-px", "1008", "-o", os.path.join(d, "m.ims"), check=1)
        self.assertIn("--block-px must be a multiple of 1024", p.stderr)
        self.assertNotIn("neighbour pairs", p.stderr)
        # The hole: tile 4's area (row 1, col 1, away from its neighbours' overlaps) is empty.
        p = run(*args, "--skip-missing", "--block-px", "256", "-o", os.path.join(d, "m.tif"), check=0)
        self.assertIn("positions in tile pixels (x_px, y_px), at 20 nm a pixel", p.stderr)
        self.assertIn("1 of the 6 tiles have no file and are left out", p.stderr)
        layout = json.load(open(os.path.join(d, "layout.json")))
        self.assertEqual(sorted(t["id"] for t in layout["tiles"]), [0, 1, 2, 3, 5])
        self.assertEqual(layout["missing_tiles"], [4])  # the hole, recorded beside the mosaic
        truth = {t["id"]: (t["x_um"], t["y_um"]) for t in layout["tiles"]}
        self.assertAlmostEqual(truth[1][0], float(rows[1]["x_um"]), delta=0.6)  # pixels became um
        with tifffile.TiffFile(os.path.join(d, "m.tif")) as t:  # and in the file, as in a .ims
            self.assertIn("tiles left out (no file): ids 4", t.pages[0].description)
            # Where it lies on the stage (probe98: the TIFF said the pixel size only).
            where = re.search(r"pixel_nm = 20\norigin_um = (\S+), (\S+) \(x, y of the first pixel's corner",
                              t.pages[0].description)
            self.assertIsNotNone(where, t.pages[0].description)
            self.assertAlmostEqual(float(where.group(1)), layout["mosaic"]["origin_x_um"], places=6)
            self.assertAlmostEqual(float(where.group(2)), layout["mosaic"]["origin_y_um"], places=6)
        m = tifffile.imread(os.path.join(d, "m.tif"))
        x0 = int((float(rows[4]["x_um"]) - layout["mosaic"]["origin_x_um"]) / 0.02) + 100
        y0 = int((float(rows[4]["y_um"]) - layout["mosaic"]["origin_y_um"]) / 0.02) + 100
        self.assertEqual(m[y0:y0 + 150, x0:x0 + 150].max(), 0)
        self.assertGreater(m[50:200, 50:200].max(), 0)
        # A fusion that fails after the registration (tile 0's second channel is corrupt) keeps the
        # registered layout under another name, and --from-layout fuses it later.
        shutil.copytree(tiles, os.path.join(d, "second"), dirs_exist_ok=True)
        bad = os.path.join(d, "second", "0000.tif")
        tifffile.imwrite(bad, np.full((400, 400), 0.5, dtype=np.float32), compression="zlib")
        with tifffile.TiffFile(bad) as t:
            offset = t.pages[0].dataoffsets[0]
        with open(bad, "r+b") as f:
            f.seek(offset + 10)
            f.write(b"\xff" * 200)
        out = os.path.join(d, "failed", "m.ims")
        p = run(*args, "--skip-missing", "--channel", "second=second/{id}.tif", "--pixel-nm", "20", "-o", out, check=2)
        kept = os.path.join(d, "failed", "layout.unfused.json")
        self.assertIn("corrupt or truncated TIFF", p.stderr)
        self.assertIn("the registered layout is kept in %s: `--from-layout %s`" % (kept, kept), p.stderr)
        self.assertEqual(sorted(os.listdir(os.path.dirname(out))), ["layout.unfused.json"])
        p = run(*args, "--skip-missing", "--from-layout", kept, "-o", out, check=0)
        self.assertTrue(os.path.exists(out))
        import h5py
        with h5py.File(out, "r") as f:  # the hole, recorded in the mosaic file too
            self.assertIn("tiles left out (no file): ids 4", b"".join(f["DataSetInfo/Image"].attrs["Description"]).decode())
        # The layout it was fused with is beside it, as layout.json; its effective configuration
        # (--overlap-um -1: "not given") makes the same mosaic again.
        with open(kept) as a, open(os.path.join(d, "failed", "layout.json")) as b:
            self.assertEqual(a.read(), b.read())
        again = os.path.join(d, "again", "m.ims")
        run("--config", os.path.join(d, "failed", "m.config.ini"), "-o", again, check=0)
        with open(os.path.join(d, "failed", "m.config.ini")) as f:
            self.assertIn("overlap-um = -1\n", f.read())
        self.assertTrue(os.path.exists(again))
        # A stitch that registers and fuses there later drops the kept registration it replaces.
        p = run(*args, "--skip-missing", "-o", out, check=0)
        self.assertIn("removed " + kept, p.stdout + p.stderr)
        self.assertFalse(os.path.exists(kept))

    def test_camera_tiles_on_a_bright_background_register_exactly_and_make_an_ims(self):
        # Tiles of a photograph (another microscope's kind of image: no dark background) at whole-
        # pixel positions, the stage 0-4 px off: every edge within 0.1 px of the truth.
        from skimage import data
        import h5py
        src = data.camera().astype(np.float64)
        d = self.out("camera")
        os.makedirs(os.path.join(d, "t"), exist_ok=True)
        rng = np.random.default_rng(5)
        truth, lines = {}, ["id,row,col,x_um,y_um"]
        for r in range(2):
            for c in range(3):
                i = r * 3 + c
                y, x = 10 + r * 160 + int(rng.integers(-4, 5)), 10 + c * 160 + int(rng.integers(-4, 5))
                truth[i] = (x, y)
                tifffile.imwrite(os.path.join(d, "t", f"{i:04d}.tif"), (src[y:y + 180, x:x + 180] * 50 + 3000).astype(np.uint16),
                                 resolution=(1e5, 1e5), resolutionunit="CENTIMETER")  # 100 nm
                sx, sy = x + rng.uniform(-2, 2), y + rng.uniform(-2, 2)
                lines.append(f"{i},{r},{c},{sx / 10:.4f},{sy / 10:.4f}")
        open(os.path.join(d, "positions.csv"), "w").write("\n".join(lines) + "\n")
        ims = self.out("camera.ims")
        run(d, "--tiles", "t/{id}.tif", "--overlap-um", "2", "-q", "-o", ims, check=0)
        self.assertEdgesNearTruth(os.path.join(os.path.dirname(ims), "layout.json"), truth, "used", 0.1, 5)
        # The .ims opens as run's does: h5py, the BigDataViewer XML beside it, and export reads it.
        with h5py.File(ims, "r") as f:
            level0 = f["DataSet/ResolutionLevel 0/TimePoint 0/Channel 0/Data"]
            w = int(b"".join(f["DataSet/ResolutionLevel 0/TimePoint 0/Channel 0"].attrs["ImageSizeX"]))
            self.assertEqual(level0.dtype, np.uint16)
            self.assertGreaterEqual(w, 490)
        self.assertTrue(os.path.exists(ims[:-4] + ".xml"))
        run("export", ims, "--region", "0,0,64,64", "-o", self.out("crop.tif"), binary=SIM, check=0)
        # A crop named as the mosaic (camera.tif) keeps stitch's camera.config.ini, a valid --config
        # for the stitch, and writes its own as camera.tif.config.ini (probe74: stitch's was replaced).
        stitch_config = open(ims[:-4] + ".config.ini").read()
        run("export", ims, "--region", "0,0,64,64", "-o", ims[:-4] + ".tif", binary=SIM, check=0)
        self.assertEqual(open(ims[:-4] + ".config.ini").read(), stitch_config)
        self.assertIn("[export]", open(ims[:-4] + ".tif.config.ini").read())
        # An OME-TIFF exported from it goes when a stitch replaces the mosaic (it would show the old one).
        run("export", ims, "--ome-tiff", ims[:-4] + ".ome.tif", binary=SIM, check=0)
        p = run(d, "--tiles", "t/{id}.tif", "--overlap-um", "2", "-o", ims, check=0)
        self.assertIn("removed " + ims[:-4] + ".ome.tif and its .ome.config.ini: it showed the earlier mosaic", p.stderr)
        self.assertFalse(os.path.exists(ims[:-4] + ".ome.tif"))
        # No campaign.ini and no --overlap-um: the stage positions give the overlap (tiles of 18 um
        # every 16 um, the stage jittered by up to 0.6 um), said in the log.
        p = run(d, "--tiles", "t/{id}.tif", "-o", self.out("camera_no_overlap.tif"), check=0)
        m = re.search(r"overlap ([0-9.]+) um from the stage positions", p.stderr + p.stdout)
        self.assertIsNotNone(m, p.stderr)
        self.assertAlmostEqual(float(m.group(1)), 2.0, delta=0.6)
        # Outputs over inputs are refused, the layout too.
        p = run(d, "--tiles", "t/{id}.tif", "--overlap-um", "2", "--layout", os.path.join(d, "positions.csv"),
                "-o", self.out("x.tif"), check=1)
        self.assertIn("would overwrite the input", p.stderr)

    def test_a_smooth_image_near_its_stage_offset_is_not_matched_elsewhere(self):
        # A photograph upsampled (smooth) with noise; each column 1 px further right than the stage
        # says. The reduced-scale phase correlation alone matched one pair 9 px off (NCC 0.89,
        # accepted); the stage offset, refined, is a candidate too.
        from skimage import data
        from skimage.transform import resize
        d = self.out("smooth")
        os.makedirs(d, exist_ok=True)
        canvas = 3000 + resize(data.astronaut().mean(axis=2), (800, 1000)) * 100
        rng = np.random.default_rng(1)
        truth, lines = {}, ["id,row,col,x_um,y_um"]
        for r in range(2):
            for c in range(3):
                i = r * 3 + c
                nx, ny = 80 + c * 260, 80 + r * 260
                x, y = nx + c, ny
                truth[i] = (x, y)
                tile = canvas[y:y + 300, x:x + 300] + rng.normal(0, 50, (300, 300))
                tifffile.imwrite(os.path.join(d, f"{i}.tif"), np.clip(tile, 0, 65535).astype(np.uint16),
                                 resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
                lines.append(f"{i},{r},{c},{nx / 10:.4f},{ny / 10:.4f}")
        open(os.path.join(d, "positions.csv"), "w").write("\n".join(lines) + "\n")
        out = self.out("smooth.tif")
        run(d, "--tiles", "{id:d}.tif", "--overlap-um", "4", "--layout-only", "-q", "-o", out, check=0)
        self.assertEdgesNearTruth(os.path.join(os.path.dirname(out), "layout.json"), truth, "accepted", 0.2, 4)

    def test_a_match_on_a_sliver_of_overlap_is_not_accepted(self):
        # A user's probe: two 256 px tiles 230 px apart, the stage saying 268 (a gap), beyond the
        # 25 px searched. The only pair matched 22 px off on a 3.5 px sliver (NCC 0.60) and was
        # accepted, with no random pair to calibrate the threshold on.
        from scipy import ndimage
        d = self.out("sliver")
        os.makedirs(d, exist_ok=True)
        rng = np.random.default_rng(0)
        img = np.zeros((1400, 1400))
        for _ in range(120):  # filaments: random walks
            y, x, a = rng.uniform(0, 1400), rng.uniform(0, 1400), rng.uniform(0, 2 * np.pi)
            for _ in range(400):
                a += rng.normal(0, 0.08)
                y, x = y + np.sin(a), x + np.cos(a)
                if 0 <= y < 1400 and 0 <= x < 1400:
                    img[int(y), int(x)] += 1
        for _ in range(300):
            img[rng.integers(0, 1400), rng.integers(0, 1400)] += 5
        img = ndimage.gaussian_filter(img, 1.5)
        img = img / img.max() * 3000 + 500
        rng = np.random.default_rng(12)
        for i, y in enumerate((20, 250)):
            t = rng.poisson(img[y:y + 256, 20:276]).astype(float) + rng.normal(0, 20, (256, 256))
            tifffile.imwrite(os.path.join(d, f"{i}.tif"), np.clip(t, 0, 65535).astype(np.uint16))
        open(os.path.join(d, "positions.csv"), "w").write("id,row,col,x_px,y_px\n0,0,0,0,0\n1,1,0,0,268\n")
        out = self.out("sliver.tif")
        # At half resolution (as before a gap chose full resolution by default), then at the default.
        p = run(d, "--tiles", "{id:d}.tif", "--pixel-nm", "100", "--register", "tiles:2", "--layout-only", "-o", out, check=0)
        self.assertIn("only 0 random non-adjacent pair(s) to calibrate the NCC threshold on", p.stderr)
        layout = json.load(open(os.path.join(os.path.dirname(out), "layout.json")))
        (edge,) = layout["edges"]
        self.assertFalse(edge["accepted"], edge)
        self.assertLess(edge["overlap_thickness_px"], 4, edge)
        self.assertEqual(edge["rejected"], "overlap too thin: below min_overlap_thickness_px across the seam")
        self.assertEqual(layout["tiles"][1]["placed_by"], "stage")
        p = run(d, "--tiles", "{id:d}.tif", "--pixel-nm", "100", "--layout-only", "-o", out, check=0)
        layout = json.load(open(os.path.join(os.path.dirname(out), "layout.json")))
        self.assertFalse(layout["edges"][0]["accepted"], layout["edges"][0])
        self.assertEqual(layout["tiles"][1]["placed_by"], "stage")
        # Searched far enough, the true offset is found.
        p = run(d, "--tiles", "{id:d}.tif", "--pixel-nm", "100", "--search-um", "5", "--layout-only", "-o", out, check=0)
        self.assertEdgesNearTruth(os.path.join(os.path.dirname(out), "layout.json"), {0: (0, 0), 1: (0, 230)},
                                  "accepted", 0.5, 1)

    def test_a_gap_along_one_axis_is_said_and_registered_at_full_resolution(self):
        # Rows that overlap by 40 px, the stage putting the second row 12 px below the first's end
        # (truly overlapping by 8 px): the median over both axes is positive, so only the thinner
        # axis tells the gap (probe63: stitch said nothing and registered at half resolution).
        from scipy import ndimage
        d = self.out("gap")
        os.makedirs(d, exist_ok=True)
        rng = np.random.default_rng(3)
        img = ndimage.gaussian_filter(rng.poisson(0.02, (700, 700)).astype(float), 1.5)
        img = img / img.max() * 3000 + 500
        rows = []
        for r in range(2):
            for c in range(2):
                y, x = 10 + r * 248, 10 + c * 216
                tifffile.imwrite(os.path.join(d, f"{2 * r + c}.tif"), img[y:y + 256, x:x + 256].astype(np.float32))
                rows.append(f"{2 * r + c},{r},{c},{c * 216},{r * 268}")
        open(os.path.join(d, "positions.csv"), "w").write("id,row,col,x_px,y_px\n" + "\n".join(rows) + "\n")
        out = self.out("gap.tif")
        p = run(d, "--tiles", "{id:d}.tif", "--pixel-nm", "100", "--search-um", "3", "--layout-only", "-o", out, check=0)
        self.assertIn("along one axis the stage positions leave a gap of 1.2 um between neighbouring tiles", p.stderr)
        self.assertIn("registering at full resolution: no overlap in the stage positions (a gap of 12 px between the "
                      "positions)", p.stderr)
        self.assertIn("(looked for within --search-um, at full resolution)", p.stderr)

    def test_float_tiles_with_a_nan_border_register(self):
        # A float tile's "no data" border (3 px of NaN): registered as if absent, fused from the
        # neighbour where they overlap, and counted.
        from skimage import data
        src = data.camera().astype(np.float32) / 255
        d = self.out("nanborder")
        os.makedirs(d, exist_ok=True)
        truth, lines = {}, ["id,row,col,x_um,y_um"]
        for r in range(2):
            for c in range(3):
                i = r * 3 + c
                x, y = 10 + c * 160 + (r + c) % 3, 10 + r * 160
                truth[i] = (x, y)
                tile = src[y:y + 180, x:x + 180].copy()
                tile[:3, :] = tile[-3:, :] = tile[:, :3] = tile[:, -3:] = np.nan
                tifffile.imwrite(os.path.join(d, f"{i}.tif"), tile, resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
                lines.append(f"{i},{r},{c},{(10 + c * 160) / 10:.4f},{(10 + r * 160) / 10:.4f}")
        open(os.path.join(d, "positions.csv"), "w").write("\n".join(lines) + "\n")
        out = self.out("nanborder.tif")
        p = run(d, "--tiles", "{id:d}.tif", "--overlap-um", "2", "-o", out, "--no-preview", check=0)
        self.assertRegex(p.stderr, r"channel 'tiles': \d+ tile pixels are NaN or infinite: left out as no data")
        # Before: NCC 0 everywhere, none accepted. The border takes 6 of the overlap's 20 px: about
        # a pixel, not sub-pixel.
        self.assertEdgesNearTruth(os.path.join(os.path.dirname(out), "layout.json"), truth, "used", 1.5, 5)

    def test_errors_name_the_problem(self):
        out = self.out("x.tif")
        p = run(CAMPAIGN, "--tiles", "missing/{id}.tif", "-o", out)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("missing/0000.tif", p.stderr)
        p = run(CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "--positions", os.path.join(TMP, "nope.csv"), "-o", out)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("nope.csv", p.stderr)
        # --positions is a path from the working folder; a name inside DIR is pointed out.
        p = run(CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "--positions", "positions.csv", "-o", out, cwd=TMP)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("did you mean --positions " + os.path.join(CAMPAIGN, "positions.csv"), p.stderr)
        p = run(CAMPAIGN, "--channel", "no-equals-sign", "-o", out)
        self.assertEqual(p.returncode, 1, p.stderr)
        p = run(CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "--register", "nosuch:2", "-o", out)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("nosuch", p.stderr)
        bare = os.path.join(TMP, "bare")
        os.makedirs(bare, exist_ok=True)
        shutil.copy(os.path.join(CAMPAIGN, "positions.csv"), bare)
        p = run(bare, "--tiles", "x/{id}.tif", "-o", out)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(os.path.join(bare, "x", "0000.tif") + ": none of the 6 tiles listed in", p.stderr)
        p = run(CAMPAIGN, "--tiles", "fov/{id}/widefield.tif@3-5", "-o", out, check=3)
        self.assertIn("(pages are chosen with --channel NAME=PATTERN@PAGES, not in --tiles)", p.stderr)
        p = run(CAMPAIGN, "-o", out)
        self.assertEqual(p.returncode, 1, p.stderr)
        # An output over one of the input tiles (any channel) is refused, the tile kept.
        tile = os.path.join(CAMPAIGN, "ground_truth", "dense", "0001.tif")
        before = os.path.getmtime(tile)
        p = self.stitch(tile, check=1)
        self.assertIn("would overwrite the input", p.stderr)
        self.assertEqual(os.path.getmtime(tile), before)
        p = self.stitch(os.path.join(CAMPAIGN, "fov", "0002", "widefield.tif"), check=1)
        self.assertIn("would overwrite the input", p.stderr)
        # A run's output folder keeps its own layout.json.
        run_out = self.out("run-out")
        os.makedirs(run_out, exist_ok=True)
        with open(os.path.join(run_out, "manifest.jsonl"), "w") as fh:
            fh.write("")
        with open(os.path.join(run_out, "layout.json"), "w") as fh:
            fh.write("{}")
        p = self.stitch(os.path.join(run_out, "dense.tif"), check=1)
        self.assertIn("belongs to the run in", p.stderr)
        with open(os.path.join(run_out, "layout.json")) as fh:
            self.assertEqual(fh.read(), "{}")
        # ... and its mosaic (a stitch replaced it, and status then called the run's mosaic out of date).
        p = run(CAMPAIGN, "--tiles", "ground_truth/dense/{id}.tif", "-o", os.path.join(run_out, "mosaic.ims"), "--layout",
                self.out("elsewhere.json"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(os.path.join(run_out, "mosaic.ims") + " belongs to the run in", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(run_out, "mosaic.ims")))
        # A campaign's data folders are no place for a mosaic.
        p = self.stitch(os.path.join(CAMPAIGN, "fov", "0000", "mosaic.tif"), check=1)
        self.assertIn("is inside the campaign " + os.path.abspath(CAMPAIGN) + " (its fov/ folder holds the campaign's data)",
                      p.stderr)
        self.assertFalse(os.path.exists(os.path.join(CAMPAIGN, "fov", "0000", "mosaic.tif")))
        # A campaign's data files wherever its campaign.ini puts them (init-campaign's folders of
        # tables and widefields) are inputs: a mosaic over a widefield was written, the raw data lost.
        inited = self.out("inited")
        shutil.copytree(os.path.join(CAMPAIGN, "ground_truth", "dense"), os.path.join(inited, "tiles"), dirs_exist_ok=True)
        shutil.copy(os.path.join(CAMPAIGN, "positions.csv"), inited)
        with open(os.path.join(CAMPAIGN, "campaign.ini")) as fh:
            ini = re.sub(r"(?m)^widefield = .*$", "widefield = wf/w{id}.tif", fh.read())
        with open(os.path.join(inited, "campaign.ini"), "w") as fh:
            fh.write(ini)
        p = run(inited, "--tiles", "tiles/{id}.tif", "-o", os.path.join(inited, "wf", "w0001.tif"), check=1)
        self.assertIn("would overwrite the input " + os.path.join(inited, "wf", "w0001.tif"), p.stderr)
        p = run(inited, "--tiles", "tiles/{id}.tif", "-o", self.out("x.tif"), "--layout", os.path.join(inited, "t.csv"), check=1)
        self.assertIn("the layout is JSON: name it .json", p.stderr)
        # A pattern without a field names one file for every tile.
        p = run(CAMPAIGN, "--tiles", "ground_truth/dense/0000.tif", "-o", out, check=1)
        self.assertIn("--tiles ground_truth/dense/0000.tif names the same file for every one of the", p.stderr)
        # An output name that is a folder: said before any work.
        os.makedirs(self.out("folder.tif"), exist_ok=True)
        p = self.stitch(self.out("folder.tif"), check=3)
        self.assertIn("is a folder", p.stderr)

    def test_foreign_tiles_in_another_unit_or_of_mixed_types_are_refused(self):
        # Tiles cut from one image (100 nm px, 64 px tiles, 16 px overlap), as another program
        # would write them.
        rng = np.random.default_rng(5)
        image = rng.random((128, 176)).astype(np.float32)
        d = self.out("foreign")
        os.makedirs(d, exist_ok=True)
        rows = []
        for r in range(2):
            for c in range(3):
                i = r * 3 + c
                tile = image[r * 48:r * 48 + 64, c * 48:c * 48 + 64]
                tifffile.imwrite(os.path.join(d, "%04d.tif" % i), (tile * 60000).astype(np.uint16),
                                 resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
                rows.append((i, r, c, c * 4.8, r * 4.8))

        def positions(scale):
            with open(os.path.join(d, "positions.csv"), "w") as fh:
                fh.write("id,row,col,x_um,y_um\n" + "".join("%d,%d,%d,%g,%g\n" % (i, r, c, x * scale, y * scale)
                                                          for i, r, c, x, y in rows))

        positions(1000)  # nm under x_um: a mosaic 1000 times too large was being fused
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.ims"), check=2)
        self.assertIn("grid neighbours are a median 4800 um apart, but a tile is 6.4 um wide", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "m.ims")))
        positions(1)
        tifffile.imwrite(os.path.join(d, "0004.tif"), image[48:112, 48:112])  # float 0..1 among uint16
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.ims"), check=2)
        self.assertIn("1 tile(s) of another pixel type than this one's uint16 (%s (float32))" % os.path.join(d, "0004.tif"),
                      p.stderr)
        tifffile.imwrite(os.path.join(d, "0004.tif"), (image[48:112, 48:112] * 60000).astype(np.uint16),
                         resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
        run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.ims"), check=0)
        # An overlap the tiles cannot have, given by hand: refused.
        for bad, said in (("-3", "--overlap-um must be >= 0"), ("6.4", "--overlap-um 6.4 is not less than a tile")):
            p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "x.ims"), "--overlap-um=" + bad, check=1)
            self.assertIn(said, p.stderr)

    def foreign_tiles(self, name, pages=1, tile_px=64, grid=(2, 3), ome=False):
        """Tiles cut from one noise image (100 nm px, 16 px overlap) as another program writes them;
        returns the folder and a function that writes positions.csv (x_um, y_um scaled, y negated)."""
        rng = np.random.default_rng(7)
        step = tile_px - 16
        image = rng.random((step * grid[0] + 16, step * grid[1] + 16)).astype(np.float32)
        d = self.out(name)
        os.makedirs(d, exist_ok=True)
        rows = []
        for r in range(grid[0]):
            for c in range(grid[1]):
                i = r * grid[1] + c
                tile = (image[r * step:r * step + tile_px, c * step:c * step + tile_px] * 60000).astype(np.uint16)
                data = np.stack([tile] * pages) if pages > 1 else tile
                if ome:  # the pixel size in the OME-XML alone (resolution tags 1/1, no unit), as tifffile writes it
                    tifffile.imwrite(os.path.join(d, "%04d.tif" % i), data, photometric="minisblack", ome=True,
                                     metadata={"PhysicalSizeX": 0.1, "PhysicalSizeXUnit": "\u00b5m", "PhysicalSizeY": 0.1})
                else:
                    tifffile.imwrite(os.path.join(d, "%04d.tif" % i), data, photometric="minisblack",
                                     resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
                rows.append((i, r, c, c * step / 10, r * step / 10))

        def positions(scale=1, y_sign=1):
            with open(os.path.join(d, "positions.csv"), "w") as fh:
                fh.write("id,row,col,x_um,y_um\n" + "".join("%d,%d,%d,%g,%g\n" % (i, r, c, x * scale, y * scale * y_sign)
                                                          for i, r, c, x, y in rows))
        positions()
        return d, positions

    def cut_tiles(self, name, image, place, stage_error=lambda i: (0, 0)):
        """3 x 4 tiles of 64 px cut from `image` (100 nm px) at place(row, col) = (x, y) px, written with
        positions.csv (off by stage_error(id) px); returns the folder and the true positions."""
        d = self.out(name)
        os.makedirs(d, exist_ok=True)
        truth = {}
        with open(os.path.join(d, "positions.csv"), "w") as fh:
            fh.write("id,row,col,x_um,y_um\n")
            for r in range(3):
                for c in range(4):
                    i, (x, y) = r * 4 + c, place(r, c)
                    tifffile.imwrite(os.path.join(d, "%04d.tif" % i), (image[y:y + 64, x:x + 64] * 60000).astype(np.uint16),
                                     photometric="minisblack", resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
                    truth[i] = (x, y)
                    ex, ey = stage_error(i)
                    fh.write("%d,%d,%d,%g,%g\n" % (i, r, c, (x + ex) / 10, (y + ey) / 10))
        return d, truth

    def test_a_fiji_tile_configuration_is_read_as_it_is(self):
        # Fiji's Grid/Collection stitching writes TileConfiguration.txt: file names and pixel
        # positions, no grid cells. Tiles 48 px apart with a few px of stage error, one line per tile.
        d, _ = self.foreign_tiles("fiji")
        jitter = {0: (0, 0), 1: (2.5, -1.5), 2: (-2, 1), 3: (1, 2), 4: (-1.5, -2), 5: (2, 1.5)}
        with open(os.path.join(d, "TileConfiguration.txt"), "w") as fh:
            fh.write("# Define the number of dimensions we are working on\ndim = 2\n\n# Define the image coordinates\n")
            for i in (5, 0, 3, 1, 4, 2):  # any order
                r, c = divmod(i, 3)
                fh.write("%04d.tif; ; (%.1f, %.1f)\n" % (i, c * 48 + jitter[i][0], r * 48 + jitter[i][1]))
        out = os.path.join(d, "m.tif")
        p = run(d, "--tiles", "{file}", "--positions", os.path.join(d, "TileConfiguration.txt"), "-o", out, check=0)
        self.assertIn("7 neighbour pairs: 7 matched, 7 accepted", p.stderr)  # 2 x 3 tiles: 4 + 3
        with open(os.path.join(d, "layout.json")) as f:
            layout = json.load(f)
        tiles = {t["id"]: t for t in layout["tiles"]}
        # Ids count the file's lines: line 0 is 0005.tif. Registration undoes the jitter: true steps of 48 px.
        for line, i in enumerate((5, 0, 3, 1, 4, 2)):
            r, c = divmod(i, 3)
            self.assertEqual((tiles[line]["row"], tiles[line]["col"]), (r, c))
            self.assertAlmostEqual(tiles[line]["x_px"] - tiles[1]["x_px"], c * 48, delta=0.2)
            self.assertAlmostEqual(tiles[line]["y_px"] - tiles[1]["y_px"], r * 48, delta=0.2)
        # Column 1 of 4 left out (tiles at columns 0, 2, 3): it stays a gap, the tiles beyond it a group of
        # their own, said as such (counted, column 2 became 1 and its pairs "held too little structure").
        with open(os.path.join(d, "TileConfiguration.txt"), "w") as fh:
            fh.write("dim = 2\n")
            for i in (0, 3, 1, 4, 2, 5):
                r, c = divmod(i, 3)
                fh.write("%04d.tif; ; (%.1f, %.1f)\n" % (i, (c + (c > 0)) * 48 + jitter[i][0], r * 48 + jitter[i][1]))
        p = run(d, "--tiles", "{file}", "--positions", os.path.join(d, "TileConfiguration.txt"), "-o", out, check=0)
        with open(os.path.join(d, "layout.json")) as f:
            self.assertEqual(sorted({t["col"] for t in json.load(f)["tiles"]}), [0, 2, 3])
        self.assertIn("No grid neighbour joins them to it: an empty row or column of cells lies between", p.stderr)
        # {file} with a positions.csv (no file names) is said.
        p = run(d, "--tiles", "{file}", "-o", out, check=2)
        self.assertIn("{file} needs a positions file that names each tile's file", p.stderr)

    def test_a_brick_layout_is_refused_until_off_grid_place_then_registered_where_it_lies(self):
        # Tiles cut from one noise image, every other row 32 px (two thirds of a 48 px step) to the
        # right, as a brick layout: a typo guard refuses it by default, --off-grid place stitches it.
        image = np.random.default_rng(11).random((48 * 3 + 16, 48 * 4 + 16 + 32)).astype(np.float32)
        # Half a pixel of stage error on some, as a stage gives.
        d, truth = self.cut_tiles("brick", image, lambda r, c: (c * 48 + 32 * (r % 2), r * 48),
                                  lambda i: (0.5 * (i % 3 - 1), -0.5 * (i % 2)))
        out = os.path.join(d, "m.tif")
        p = run(d, "--tiles", "{id}.tif", "-o", out, check=2)
        self.assertIn("FoV 4 (row 1, col 0) is at x 3.2, y 4.8 um, 3.28 um (0.68 steps) from x -0.075", p.stderr)
        self.assertIn("If the positions are right (a brick layout, blocks acquired apart), give --off-grid place", p.stderr)
        self.assertFalse(os.path.exists(out))
        p = run(d, "--tiles", "{id}.tif", "--off-grid", "place", "-o", out, check=0)
        self.assertIn("tile(s) lie more than half a step from their row and col's place; placed where the positions say", p.stderr)
        self.assertIn("17 neighbour pairs: 17 matched, 17 accepted", p.stderr)  # 3 x 3 along rows, 2 x 4 down
        self.assertEdgesNearTruth(os.path.join(d, "layout.json"), truth, "used", 0.3, 17)
        # The mosaic holds the image where the tiles came from (whole-pixel placement).
        mosaic = tifffile.imread(out).astype(np.float64)
        self.assertLessEqual(np.abs(np.subtract(mosaic.shape, image.shape)).max(), 1)
        want = (image * 60000).astype(np.uint16).astype(np.float64)
        miss = min(np.abs(mosaic[70 + dy:90 + dy, 40 + dx:120 + dx] - want[70:90, 40:120]).max()
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        self.assertLess(miss, 2)
        # The same layout from a campaign folder's campaign.ini; a value there that is neither word is refused.
        with open(os.path.join(d, "campaign.ini"), "w") as fh:
            fh.write("[campaign]\nrows = 3\ncols = 4\nfov-um = 6.4\noverlap-um = 1.6\noff-grid = place\n")
        run(d, "--tiles", "{id}.tif", "-o", out, check=0)
        p = run(d, "--tiles", "{id}.tif", "--off-grid", "sometimes", "-o", out, check=1)
        self.assertIn("--off-grid must be refuse or place (what to do with a FoV more than half a step from its row and col's place), "
                      "not 'sometimes'", p.stderr)
        with open(os.path.join(d, "campaign.ini"), "w") as fh:
            fh.write("[campaign]\nrows = 3\ncols = 4\nfov-um = 6.4\noverlap-um = 1.6\noff-grid = yes\n")
        p = run(d, "--tiles", "{id}.tif", "-o", out, check=2)  # as `run` refuses it: the input's error
        self.assertIn("campaign.ini: off-grid must be refuse or place (what to do with a FoV more than half a step from its row "
                      "and col's place), not 'yes'", p.stderr)

    def test_two_blocks_acquired_apart_are_said_as_such_under_off_grid_place(self):
        # Columns 2 and 3 acquired 100 px to the right of 0 and 1 (no overlap between the blocks): a
        # layout, said as one (not 6 FoVs named as slips); placed, each block registered within itself,
        # the pairs across the gap "no overlap", not "too little structure" nor a --search-um to raise.
        image = np.random.default_rng(5).random((48 * 2 + 64, 48 * 3 + 100 + 64)).astype(np.float32)
        d, truth = self.cut_tiles("blocks", image, lambda r, c: (c * 48 + 100 * (c >= 2), r * 48))
        out = os.path.join(d, "m.tif")
        p = run(d, "--tiles", "{id}.tif", "-o", out, check=2)
        self.assertIn("the positions follow no single grid: 12 of 12 tiles lie more than half a step", p.stderr)
        self.assertIn("a brick layout, or blocks acquired apart? If the positions are right, give --off-grid place", p.stderr)
        p = run(d, "--tiles", "{id}.tif", "--off-grid", "place", "-o", out, check=0)
        self.assertIn("6 tile(s) are not joined to the main group by any registered overlap", p.stderr)
        self.assertIn("their positions leave none with it (blocks acquired apart?)", p.stderr)
        self.assertNotIn("--search-um", p.stderr)
        with open(os.path.join(d, "layout.json")) as fh:
            layout = json.load(fh)
        across = [e for e in layout["edges"] if {e["a"] % 4, e["b"] % 4} == {1, 2}]
        self.assertEqual(len(across), 3)
        for e in across:
            self.assertEqual(e["rejected"], "not registered: the positions leave no overlap (the tiles lie further apart than "
                                            "their size and the search)")
        self.assertEdgesNearTruth(os.path.join(d, "layout.json"), truth, "used", 0.3, 14)  # 17 pairs less the 3 across

    def test_positions_in_pixels_a_stage_y_pointing_up_and_stacks_are_said(self):
        d, positions = self.foreign_tiles("said", pages=3)
        # Positions in 100 nm pixels under x_um: tiles ten times their step apart, never overlapping
        # (a mostly empty mosaic was written, exit 0).
        positions(scale=10)
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.ims"), check=2)
        self.assertIn("grid neighbours are a median 48 um apart, but a tile is 6.4 um wide (64 px at 100 nm): no two could "
                      "overlap", p.stderr)
        # A stage whose y axis points up: placed as given, said, and the failed column pairs explained.
        positions(y_sign=-1)
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.ims"), check=0)
        self.assertIn("positions.csv: y_um decreases as row increases (median step -4.8 um)", p.stderr)
        self.assertIn("No pair down a column registered while pairs along the rows did", p.stderr)
        # Stacks of 3 pages: the first alone is stitched, said with the way to average them.
        self.assertIn("channel 'tiles': 6 tile(s) have several pages (%s (3 pages), ...); their first page alone is used. "
                      "For a z-stack or time series, --channel tiles=PATTERN@A-B (in place of --tiles" % os.path.join(d, "0000.tif"),
                      p.stderr)
        positions()
        p = run(d, "--channel", "tiles={id}.tif@1-3", "-o", os.path.join(d, "m.ims"), check=0)
        self.assertNotIn("several pages", p.stderr)
        self.assertIn("7 neighbour pairs: 7 matched, 7 accepted", p.stderr)

    def test_ome_tiff_tiles_give_their_pixel_size_and_uint16_counts_are_kept(self):
        d, _ = self.foreign_tiles("ome", ome=True)
        out = os.path.join(d, "m.tif")
        p = run(d, "--tiles", "{id}.tif", "-o", out, check=0)
        self.assertIn("6 tiles of 64 x 64 px at 100 nm", p.stderr)
        self.assertIn("channel 'tiles': stored uint16 = value x 1\n", p.stderr)
        # Inside tile 0, away from the overlaps, the mosaic holds the tile's own counts.
        with open(os.path.join(d, "layout.json")) as f:
            layout = json.load(f)
        t0 = next(t for t in layout["tiles"] if t["id"] == 0)
        x0 = math.floor(t0["x_px"] + 0.5) - int(layout["mosaic"]["origin_x_px"])  # lround, as the fusion places it
        y0 = math.floor(t0["y_px"] + 0.5) - int(layout["mosaic"]["origin_y_px"])
        np.testing.assert_array_equal(tifffile.imread(out)[y0 + 4:y0 + 40, x0 + 4:x0 + 40],
                                      tifffile.imread(os.path.join(d, "0000.tif"))[4:40, 4:40])

    def test_a_layout_of_other_tiles_is_refused(self):
        d, _ = self.foreign_tiles("layout")
        run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.tif"), "--layout-only", check=0)
        with open(os.path.join(d, "layout.json")) as f:
            layout = json.load(f)
        layout["tiles"][0]["width_px"] = 80  # made of tiles of another size
        other = os.path.join(d, "other.json")
        with open(other, "w") as f:
            json.dump(layout, f)
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.tif"), "--from-layout", other, check=2)
        self.assertIn("tile id 0 is 64 x 64 px at row 0 col 0 here, but 80 x 64 px at row 0 col 0 in the layout: a layout "
                      "of other tiles", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "m.tif")))
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.tif"), "--from-layout", os.path.join(d, "layout.json"),
                "--pixel-nm", "110", check=2)
        self.assertIn("the layout is at 100 nm per pixel, the tiles at 110 nm", p.stderr)
        # A file that is no layout, and a layout missing a value: said without the JSON library's codes.
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.tif"), "--from-layout", os.path.join(d, "positions.csv"),
                check=2)
        self.assertIn("positions.csv: not valid JSON: ", p.stderr)
        del layout["settings"]["pixel_nm"]
        with open(other, "w") as f:
            json.dump(layout, f)
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.tif"), "--from-layout", other, check=2)
        self.assertIn("other.json: malformed layout: key 'pixel_nm' not found", p.stderr)
        self.assertNotIn("json.exception", p.stderr)
        # Registering a layout and fusing with one given are one or the other.
        p = run(d, "--tiles", "{id}.tif", "-o", os.path.join(d, "m.tif"), "--from-layout", other, "--layout-only", check=1)
        self.assertIn("--layout-only registers and writes a layout, --from-layout fuses with a layout given: one or the other",
                      p.stderr)
        # A layout of more tiles than these (the whole grid, a region fused again): their positions.
        with open(os.path.join(d, "positions.csv")) as f:
            lines = f.read().splitlines()
        part = os.path.join(d, "part.csv")
        with open(part, "w") as f:
            f.write("\n".join(lines[:4]) + "\n")  # the first row of tiles
        run(d, "--tiles", "{id}.tif", "--positions", part, "-o", os.path.join(d, "row0.tif"), "--from-layout",
            os.path.join(d, "layout.json"), check=0)

    def test_sigterm_stops_a_stitch_with_exit_75_and_nothing_under_its_name(self):
        # 16 tiles of 1024 px on one thread: seconds of registration and fusion after the first line.
        d, _ = self.foreign_tiles("signal", tile_px=1024, grid=(4, 4))
        out = os.path.join(d, "m.ims")
        proc = subprocess.Popen([*BIN, d, "--tiles", "{id}.tif", "-o", out, "--threads", "1"], stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, text=True)
        try:
            proc.stderr.readline()  # its first line: the handlers are installed, the tiles not yet read
            proc.send_signal(15)
            rest = proc.stderr.read()
            self.assertEqual(proc.wait(timeout=120), 75, rest)
        finally:
            proc.kill()
            proc.wait()
            proc.stderr.close()
        self.assertIn("stopped by SIGTERM (signal 15)", rest)
        self.assertIn("nothing was written under the output's name, rerun to stitch (exit 75)", rest)
        self.assertEqual(sorted(f for f in os.listdir(d) if f.startswith("m.")), [])

    def test_help(self):
        p = run("--help", check=0)
        for s in ("--tiles", "--channel", "--register", "layout.json", "--from-layout", "--blend"):
            self.assertIn(s, p.stdout)


if __name__ == "__main__":
    unittest.main()
