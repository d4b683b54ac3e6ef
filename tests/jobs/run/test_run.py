"""End-to-end tests of `annamosaic run` as users run it: several MPI ranks, resume after kills and
signals, a bad FoV, outputs checked with h5py (Debian) rather than our own readers."""
import csv, fcntl, json, math, os, shutil, signal, struct, subprocess, sys, time, unittest
import h5py
import tifffile
import numpy as np

BIN = os.environ["ANNAMOSAIC_BIN"]
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
TMP = os.environ["ANNAMOSAIC_TEST_TMP"]
MPIRUN = os.environ.get("MPIEXEC", "mpirun")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")

CONFIG = """
threads = 1
[simulate]
name = demo
rows = 3
cols = 3
fov-um = 6
overlap-um = 1
seed = 21
jitter-um = 0.2
cell-fraction = 1
cell-radius-um = 40
cell-spacing-um = 60
filaments-per-100um2 = 12
[run]
campaign = {d}/campaign
output = {d}/out
in-flight = 2
"""


def make_config(name):
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    path = os.path.join(d, "run.ini")
    with open(path, "w") as fh:
        fh.write(CONFIG.format(d=d))
    return d, path


def mpirun(n, *args, **kw):
    return subprocess.Popen([MPIRUN, "-n", str(n), "--oversubscribe", BIN, "run", *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def signalled_run(name, ref, sig):
    """A run of a copy of the reference campaign that gets `sig` once it has recorded a FoV:
    (folder, config, exit status, log)."""
    d, ini = make_config(name)
    shutil.copytree(os.path.join(ref, "campaign"), os.path.join(d, "campaign"))
    # (the signal's default disposition in the run, also when this suite runs under nohup)
    p = subprocess.Popen([BIN, "run", "--config", ini], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    mpath = os.path.join(d, "out", "manifest.jsonl")
    t0 = time.time()
    while not os.path.exists(mpath) and time.time() - t0 < 600:
        time.sleep(0.05)
    p.send_signal(sig)
    log = p.communicate(timeout=300)[0]
    return d, ini, p.returncode, log


def rank_pid(mpirun_pid, rank):
    """The pid of one MPI rank started by mpirun on this machine (from its environment)."""
    for _ in range(100):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    env = fh.read().split(b"\0")
            except OSError:
                continue
            if ppid == mpirun_pid and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
                return int(pid)
        time.sleep(0.1)
    raise AssertionError(f"no rank {rank} under mpirun {mpirun_pid}")


def mosaic_levels(path):
    """Every dataset of the mosaic, cropped to ImageSize, as numpy arrays (Imaris-reader style)."""
    out = {}
    with h5py.File(path, "r") as f:
        for r in f["DataSet"]:
            for c in f["DataSet"][r]["TimePoint 0"]:
                g = f["DataSet"][r]["TimePoint 0"][c]
                w = int(b"".join(g.attrs["ImageSizeX"]).decode())
                h = int(b"".join(g.attrs["ImageSizeY"]).decode())
                out[(r, c)] = g["Data"][0, :h, :w]
    return out


def status(*args):
    """`annamosaic status ... --json`: (exit status, one dict per campaign)."""
    p = subprocess.run([BIN, "status", "--json", *args], env=ENV, capture_output=True, text=True, timeout=120)
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else p.stderr


def manifest(d):
    recs = {}
    with open(os.path.join(d, "out", "manifest.jsonl")) as fh:
        for line in fh:
            try:
                j = json.loads(line)
            except ValueError:
                continue
            recs[j["id"]] = j
    return recs


class Run(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The reference: an uninterrupted 2-rank run.
        cls.ref, cls.ref_ini = make_config("reference")
        p = mpirun(2, "--config", cls.ref_ini)
        cls.ref_log = p.communicate(timeout=900)[0]
        cls.ref_rc = p.returncode

    def test_uninterrupted_run_with_two_ranks(self):
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        out = os.path.join(self.ref, "out")
        recs = manifest(self.ref)
        self.assertEqual(len(recs), 9)
        self.assertTrue(all(r["status"] == "done" for r in recs.values()))
        ranks = {r["extra"]["rank"] for r in recs.values()}
        self.assertEqual(ranks, {0, 1})  # both ranks pulled work
        with open(os.path.join(out, "bindings.jsonl")) as fh:
            bindings = [json.loads(l) for l in fh]
        self.assertEqual(sorted(b["rank"] for b in bindings), [0, 1])
        for b in bindings:  # what each rank runs on: its CPUs, TBB threads and LibTorch threads
            self.assertGreaterEqual(b["cpu_count"], 1, b)
            self.assertTrue(b["cpus"], b)
            self.assertEqual(b["threads"], 1, b)  # threads = 1 in the config
            self.assertEqual(b["torch_threads"], b["threads"], b)
            self.assertEqual(b["in_flight"], 2, b)  # in-flight = 2 in the config
        levels = mosaic_levels(os.path.join(out, "mosaic.ims"))
        self.assertGreater(len(levels), 3)
        # Where the mosaic lies on the stage: layout.json, the .ims extents and the BDV affine agree.
        with open(os.path.join(out, "layout.json")) as fh:
            layout = json.load(fh)
        m = layout["mosaic"]
        # The smallest rounded tile position (rounded half away from zero, as C++'s lround).
        lround = lambda v: math.copysign(math.floor(abs(v) + 0.5), v)
        self.assertEqual(m["origin_x_px"], min(lround(t["x_px"]) for t in layout["tiles"]))
        self.assertEqual(m["origin_y_px"], min(lround(t["y_px"]) for t in layout["tiles"]))
        with h5py.File(os.path.join(out, "mosaic.ims"), "r") as f:
            ext = {k: float(f["DataSetInfo/Image"].attrs[k].tobytes().decode()) for k in ("ExtMin0", "ExtMin1", "ExtMax0")}
            self.assertEqual(m["width_px"], int(f["DataSetInfo/Image"].attrs["X"].tobytes().decode()))
        self.assertAlmostEqual(ext["ExtMin0"], m["origin_x_um"], places=9)
        self.assertAlmostEqual(ext["ExtMin1"], m["origin_y_um"], places=9)
        self.assertAlmostEqual((ext["ExtMax0"] - ext["ExtMin0"]) / m["width_px"], layout["settings"]["pixel_nm"] / 1000, places=9)
        check = subprocess.run([sys.executable, os.path.join(REPO, "tests", "stitch", "pyramid", "check_ims.py"),
                                os.path.join(out, "mosaic.ims"), "--xml", os.path.join(out, "mosaic.xml"), "--sample", "4",
                                "--pixel-um", str(layout["settings"]["pixel_nm"] / 1000)],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        with open(os.path.join(out, "qc", "qc.json")) as fh:
            qc = json.load(fh)
        self.assertEqual(qc["summary"]["done"], 9)
        # The acceptance threshold registration calibrated, said as stitch says it (probe63: only
        # layout.json held it when true links were left out).
        self.assertRegex(self.ref_log, r"layout: signal reconstruction/\d: NCC threshold \d\.\d{3} \(\d+ of \d+ random "
                                       r"non-adjacent pairs had a match")
        for png in ("heatmap_error.png", "heatmap_localizations.png", "overview_reconstruction.png", "links.png"):
            with open(os.path.join(out, "qc", png), "rb") as fh:
                head = fh.read(24)
            self.assertEqual(head[:8], b"\x89PNG\r\n\x1a\n", png)
            self.assertGreater(min(struct.unpack(">II", head[16:24])), 100, png)  # IHDR width, height
        with open(os.path.join(out, "run_summary.json")) as fh:
            summary = json.load(fh)
        self.assertEqual(len(summary["ranks"]), 2)
        # The defaults config.ini records as 0, as they were used: 5 camera pixels of 108 nm.
        self.assertAlmostEqual(summary["widefield_search_um"], 0.54)
        self.assertGreaterEqual(summary["in_flight_per_rank"], 1)
        # Where the time went: every FoV stage, the A-net's host steps apart from its networks.
        stages = summary["stages"]
        for k in ("read", "render", "register", "anet_in", "infer", "anet_out", "write"):
            self.assertGreater(stages[k]["seconds"], 0, k)
        self.assertNotIn("network", stages)
        for r in recs.values():
            t = r["extra"]["timings"]
            for k in ("anet_in_s", "infer_s", "anet_out_s"):
                self.assertGreater(t[k], 0, t)
        table = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "stage-table.py"), out],
                               capture_output=True, text=True, check=True).stdout
        self.assertIn("fov:anet_out", table)
        self.assertIn("stitch:fuse_and_pyramid", table)
        self.assertIn("bound: fov:infer", table)  # the A-net bounds a CPU run

    def test_stitch_stage_gives_the_same_layout_and_mosaic_on_any_rank_count(self):
        # The reference stitched on 2 ranks (pairs and fusion bands split between them); stitch
        # its FoV results again on 1 and on 3 ranks.
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        ref_out = os.path.join(self.ref, "out")
        ref_mosaic = mosaic_levels(os.path.join(ref_out, "mosaic.ims"))
        with open(os.path.join(ref_out, "layout.json")) as fh:
            ref_layout = json.load(fh)
        with open(os.path.join(ref_out, "stitch_summary.json")) as fh:
            self.assertEqual(json.load(fh)["ranks"], 2)
        for n in (1, 3):
            d, ini = make_config(f"stitch{n}")
            shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
            os.makedirs(os.path.join(d, "out"))
            shutil.copytree(os.path.join(ref_out, "fov"), os.path.join(d, "out", "fov"))
            shutil.copy(os.path.join(ref_out, "manifest.jsonl"), os.path.join(d, "out"))
            p = mpirun(n, "--config", ini, "--stage", "stitch")
            log = p.communicate(timeout=900)[0]
            self.assertEqual(p.returncode, 0, log[-3000:])
            with open(os.path.join(d, "out", "layout.json")) as fh:
                layout = json.load(fh)
            self.assertEqual([(t["id"], t["x_px"], t["y_px"]) for t in layout["tiles"]],
                             [(t["id"], t["x_px"], t["y_px"]) for t in ref_layout["tiles"]], f"{n} ranks")
            self.assertEqual([(e["a"], e["b"], e.get("ncc"), e["accepted"]) for e in layout["edges"]],
                             [(e["a"], e["b"], e.get("ncc"), e["accepted"]) for e in ref_layout["edges"]])
            mosaic = mosaic_levels(os.path.join(d, "out", "mosaic.ims"))
            self.assertEqual(sorted(mosaic), sorted(ref_mosaic))
            for k in ref_mosaic:
                np.testing.assert_array_equal(mosaic[k], ref_mosaic[k], err_msg=f"{n} ranks, {k}")
            # The QC overviews, read by all ranks and combined by MPI_MAX: the same images.
            for png in ("overview_reconstruction.png", "overview_error.png"):
                with open(os.path.join(d, "out", "qc", png), "rb") as a, open(os.path.join(ref_out, "qc", png), "rb") as b:
                    self.assertEqual(a.read(), b.read(), f"{n} ranks, {png}")

    def test_rerun_with_other_fov_settings_is_refused(self):
        # The reference's FoV results were rendered from all frames: reusing them for a run of
        # other frames would mix two kinds of result. Refused before any work, naming what changed.
        d, ini = make_config("other_settings")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        shutil.copytree(os.path.join(self.ref, "out"), os.path.join(d, "out"))
        p = subprocess.run([BIN, "run", "--config", ini, "--frames", "first:500"], env=ENV, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])  # bad input: the output holds other results
        self.assertIn('holds FoV results made with other settings (frames "all" -> "first:500")', p.stderr)
        # Their 20 nm tiles stitched as 40 nm ones: the stitch stage (which needs no model) refuses too.
        p = subprocess.run([BIN, "run", "--config", ini, "--stage", "stitch", "--pixel-nm", "40"], env=ENV,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        self.assertIn("holds FoV results made with other settings (pixel-nm 20.0 -> 40.0)", p.stderr)
        # The stitch stage compares only what it uses (the pixel size): another model is fine there.
        p = subprocess.run([BIN, "run", "--config", ini, "--stage", "stitch", "--model", "/nonexistent/model.h5"], env=ENV,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        with open(os.path.join(d, "out", "fov_settings.json")) as fh:
            settings = json.load(fh)
        self.assertEqual(settings["pixel-nm"], 20.0)
        # A table option given then and dropped now reads the tables otherwise: refused too.
        settings["columns"] = "x=xc,y=yc"
        with open(os.path.join(d, "out", "fov_settings.json"), "w") as fh:
            json.dump(settings, fh)
        p = subprocess.run([BIN, "run", "--config", ini], env=ENV, capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        self.assertIn('other settings (columns "x=xc,y=yc" -> (unset))', p.stderr)

    def test_stitch_stage_refuses_a_result_file_changed_since_it_was_recorded(self):
        # A FoV result copied over another (or damaged) would be fused by --stage stitch, which has
        # no FoV stage before it to check them, and the mosaic then taken as up to date.
        d, ini = make_config("stitch_verify")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        shutil.copytree(os.path.join(self.ref, "out"), os.path.join(d, "out"))
        fov = os.path.join(d, "out", "fov")
        # No current mosaic (a FoV stage just finished): the stitch stage must make one. (A
        # current one was fused from the files as they were: it is kept, the files not read.)
        os.remove(os.path.join(d, "out", "stitch_summary.json"))
        shutil.copy(os.path.join(fov, "0003.h5"), os.path.join(fov, "0004.h5"))
        # A file cut short: `status` sees it by its recorded size, without reading it.
        with open(os.path.join(fov, "0005.h5"), "r+b") as fh:
            fh.truncate(os.path.getsize(os.path.join(fov, "0005.h5")) - 1000)
        p = subprocess.run([BIN, "status", os.path.join(d, "out")], env=ENV, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 75, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"FoV 5: fov/0005.h5 has \d+ bytes, \d+ when it was recorded")
        self.assertIn("2 done but their result file is damaged", p.stdout)  # 0004.h5 copied over has another size too
        p = subprocess.run([BIN, "run", "--config", ini, "--stage", "stitch"], env=ENV, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        # Of another size than recorded: said without reading them.
        self.assertRegex(p.stderr, r"2 FoV result\(s\) are gone or damaged since they were recorded \(FoV 4: fov/0004.h5 has "
                                   r"\d+ bytes, \d+ when it was recorded; FoV 5: fov/0005.h5 has \d+ bytes, \d+ when it was "
                                   r"recorded\): run without --stage \(or with --stage fovs\) to redo them; nothing was stitched")
        # Of the same size, changed (bit rot, a copy of the same length): found by the checksum.
        shutil.copy(os.path.join(self.ref, "out", "fov", "0004.h5"), os.path.join(fov, "0004.h5"))
        shutil.copy(os.path.join(self.ref, "out", "fov", "0005.h5"), os.path.join(fov, "0005.h5"))
        with open(os.path.join(fov, "0004.h5"), "r+b") as fh:
            fh.seek(os.path.getsize(os.path.join(fov, "0004.h5")) // 2)
            byte = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([byte[0] ^ 0xFF]))
        p = subprocess.run([BIN, "run", "--config", ini, "--stage", "stitch"], env=ENV, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        self.assertIn(os.path.join(fov, "0004.h5") + " does not match the checksum recorded when FoV 4 was made", p.stderr)
        self.assertIn("run without --stage stitch", p.stderr)
        # The full run redoes that FoV, then stitches: the reference mosaic again.
        p = subprocess.run([BIN, "run", "--config", ini], env=ENV, capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertIn("FoV 4: " + os.path.join(fov, "0004.h5") + " does not match its recorded checksum; redoing it", p.stderr)
        # The mosaic.ims there, unrecorded, is made again and said so (probe89: remade without a word).
        self.assertIn("stitch stage: making the mosaic again: " + os.path.join(d, "out") + "/mosaic.ims is there, but no "
                      "stitch_summary.json records it", p.stderr)
        mosaic, ref = (mosaic_levels(os.path.join(x, "out", "mosaic.ims")) for x in (d, self.ref))
        self.assertEqual(sorted(mosaic), sorted(ref))
        for k in ref:
            np.testing.assert_array_equal(mosaic[k], ref[k], err_msg=str(k))

    def test_another_campaigns_run_into_the_folder_is_refused(self):
        # Two grids' configurations naming one output: the second would redo the first's FoVs as
        # "changed inputs" and its stitch would fuse them. Refused, naming both campaigns; the same
        # campaign moved or copied elsewhere (same name, positions and input sizes) reuses its
        # results, with a warning.
        d, ini = make_config("other_campaign")
        shutil.copytree(os.path.join(self.ref, "out"), os.path.join(d, "out"))
        other = os.path.join(d, "plate2")
        shutil.copytree(os.path.join(self.ref, "campaign"), other)
        with open(os.path.join(other, "campaign.ini")) as fh:
            text = fh.read().replace("name = demo", "name = plate2")
        with open(os.path.join(other, "campaign.ini"), "w") as fh:
            fh.write(text)
        for stage in ("all", "stitch"):
            p = subprocess.run([BIN, "run", "--config", ini, "--campaign", other, "--stage", stage], env=ENV,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 2, p.stderr[-2000:])
            self.assertIn(f"holds the FoV results of campaign 'demo' ({os.path.realpath(os.path.join(self.ref, 'campaign'))}), "
                          f"not of this run's campaign 'plate2' ({os.path.realpath(other)})", p.stderr)
        # The same name (init-campaign names a campaign after its folder: plate1/A01, plate2/A01)
        # but other positions: another campaign.
        namesake = os.path.join(d, "namesake")
        shutil.copytree(os.path.join(self.ref, "campaign"), namesake)
        with open(os.path.join(namesake, "positions.csv")) as fh:
            lines = fh.read().splitlines()
        with open(os.path.join(namesake, "positions.csv"), "w") as fh:
            fh.write("\n".join(lines[:-1] + [lines[-1][:-1] + "5"]) + "\n")  # the last FoV 0.5 nm lower
        p = subprocess.run([BIN, "run", "--config", ini, "--campaign", namesake], env=ENV, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        self.assertIn("not of this run's campaign 'demo' (" + os.path.realpath(namesake) + ", other FoV positions)", p.stderr)
        # The same name and positions but other data (two grids simulated from one configuration
        # with other seeds): another campaign, by its input files' sizes.
        other_data = os.path.join(d, "other_data")
        shutil.copytree(os.path.join(self.ref, "campaign"), other_data)
        with open(os.path.join(other_data, "fov", "0004", "locs.csv"), "a") as fh:
            fh.write("1,100,100\n")
        for stage in ("all", "stitch"):
            p = subprocess.run([BIN, "run", "--config", ini, "--campaign", other_data, "--stage", stage], env=ENV,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 2, p.stderr[-2000:])
            self.assertIn("not of this run's campaign 'demo' (" + os.path.realpath(other_data) +
                          ", other input files (their sizes differ))", p.stderr)
        # `status` of such a configuration says it (submit-campaign.sh refuses it before submitting),
        # and so of one whose model is not there.
        grid_b = os.path.join(d, "grid-b.ini")
        with open(grid_b, "w") as fh:
            fh.write(f"[run]\ncampaign = {other_data}\noutput = {os.path.join(d, 'out')}\n")
        p = subprocess.run([BIN, "status", grid_b], env=ENV, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("other input files", p.stdout)
        no_model = os.path.join(d, "no-model.ini")
        with open(no_model, "w") as fh:
            fh.write(f"[run]\ncampaign = {os.path.join(self.ref, 'campaign')}\noutput = {os.path.join(d, 'fresh')}\n"
                     f"model = {os.path.join(d, 'no-such-model.h5')}\n")
        p = subprocess.run([BIN, "status", no_model], env=ENV, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("and it cannot run: --model " + os.path.join(d, "no-such-model.h5") + ": file not found", p.stdout)
        # A finished campaign stays finished (nothing to submit), and says that a rerun would stop at the model.
        finished_no_model = os.path.join(d, "finished-no-model.ini")
        with open(finished_no_model, "w") as fh:
            fh.write(CONFIG.format(d=self.ref) + f"model = {os.path.join(d, 'no-such-model.h5')}\n")
        p = subprocess.run([BIN, "status", finished_no_model], env=ENV, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("state:   finished; a rerun would be refused: --model " + os.path.join(d, "no-such-model.h5") +
                      ": file not found", p.stdout)
        # A copy of the campaign (moved, or copied with its output), also with its positions.csv saved
        # by another program (the same numbers, written otherwise): the same campaign, said.
        settings_path = os.path.join(d, "out", "fov_settings.json")
        resaved = os.path.join(d, "resaved")
        shutil.copytree(os.path.join(self.ref, "campaign"), resaved)
        with open(os.path.join(resaved, "positions.csv")) as fh:
            text = fh.read()
        with open(os.path.join(resaved, "positions.csv"), "w") as fh:
            fh.write(text.replace(".0000", ".000").replace("\n", "\r\n"))
        p = subprocess.run([BIN, "run", "--config", ini, "--campaign", resaved, "--stage", "stitch"], env=ENV,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertIn("this run's campaign of that name, positions and input sizes is at " + os.path.realpath(resaved) +
                      " (moved, or a copy): reusing them (--stage stitch redoes no FoV", p.stderr)
        moved = os.path.join(d, "moved")
        shutil.copytree(os.path.join(self.ref, "campaign"), moved)
        p = subprocess.run([BIN, "run", "--config", ini, "--campaign", moved], env=ENV, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertIn("(moved, or a copy): reusing them (inputs that differ are redone)", p.stderr)
        self.assertNotIn("redoing it", p.stderr)  # the same bytes: nothing redone
        with open(settings_path) as fh:
            recorded = json.load(fh)["campaign"]
        self.assertEqual((recorded["name"], recorded["path"]), ("demo", os.path.realpath(moved)))
        self.assertTrue(recorded["positions"].startswith("xxh3:"))
        # A link to the campaign is the campaign (no warning).
        link = os.path.join(d, "link")
        os.symlink(moved, link)
        p = subprocess.run([BIN, "run", "--config", ini, "--campaign", link, "--stage", "stitch"], env=ENV,
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertNotIn("reusing them", p.stderr)

    def test_a_pixel_size_other_than_the_models_is_refused_before_any_fov(self):
        # The A-net has learned structures at 20 nm: a 10 nm run would give plausible-looking nonsense.
        d, ini = make_config("model_pixel")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        p = mpirun(2, "--config", ini, "--pixel-nm", "10")
        log = p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 1, log[-2000:])
        self.assertIn("was trained at 20 nm pixels, the run renders at 10 nm (--pixel-nm): give --pixel-nm 20", log)
        self.assertEqual(log.count("was trained at 20 nm"), 1, log[-2000:])  # said once, by rank 0
        self.assertFalse(os.path.exists(os.path.join(d, "out")))  # refused before the output folder was made
        # So is a table setting no table can be read with (it was recorded in fov_settings.json
        # of a new output folder first, probe51).
        p = mpirun(1, "--config", ini, "--camera-pixel-nm", "-108")
        log = p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 1, log[-2000:])
        self.assertIn("--camera-pixel-nm must be >= 0", log)
        self.assertFalse(os.path.exists(os.path.join(d, "out")))

    def test_rerun_skips_verified_fovs_and_rebuilds_the_same_mosaic(self):
        d, ini = make_config("rerun")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        p = mpirun(1, "--config", ini)
        p.communicate(timeout=900)
        self.assertEqual(p.returncode, 0)
        first = mosaic_levels(os.path.join(d, "out", "mosaic.ims"))
        # Corrupt one result: the rerun must redo exactly that FoV.
        path = os.path.join(d, "out", "fov", "0004.h5")
        with open(path, "r+b") as fh:  # flip bytes in the middle of the file (image data)
            fh.seek(os.path.getsize(path) // 2)
            chunk = fh.read(64)
            fh.seek(os.path.getsize(path) // 2)
            fh.write(bytes(b ^ 0xFF for b in chunk))
        # status trusts the manifest unless asked to verify; --verify reads every result as a rerun does.
        rc, st = status(os.path.join(d, "out"))
        self.assertEqual((rc, st[0]["done"], st[0]["state"]), (0, 9, "finished"), st)
        rc, st = status(os.path.join(d, "out"), "--verify", "--map")
        self.assertEqual(rc, 75, st)
        self.assertEqual((st[0]["done"], st[0]["damaged_results"]), (8, 1), st)
        self.assertEqual(st[0]["damaged_fovs"][0]["id"], 4)
        self.assertIn("does not match its recorded checksum", st[0]["damaged_fovs"][0]["reason"])
        self.assertIn("damaged", st[0]["state"])
        self.assertEqual(st[0]["map"][1][1], "!")  # FoV 4 is the middle of the 3 x 3 snake
        # The mosaic beside it is said current with the results as recorded, not plainly "up to date"
        # beside a damaged result (probe89 read that as a contradiction).
        text = subprocess.run([BIN, "status", os.path.join(d, "out"), "--verify"], env=ENV, capture_output=True, text=True,
                              timeout=120).stdout
        self.assertIn(", up to date with the FoV results as recorded (a redone FoV that comes out the same keeps it)", text)
        # The event log's last record cut short (a full disk, a kill while it was written): the
        # rerun's records start on a line of their own (probe76: the first was glued onto the stub).
        events = os.path.join(d, "out", "events.jsonl")
        with open(events, "r+b") as fh:
            fh.truncate(os.path.getsize(events) - 10)
        with open(events) as fh:
            stub = fh.read().splitlines()[-1]
        p = mpirun(1, "--config", ini)
        log = p.communicate(timeout=900)[0]
        self.assertEqual(p.returncode, 0, log[-2000:])
        self.assertIn("8 already done and verified, 1 to process", log)
        unreadable = []
        with open(events) as fh:
            for line in fh.read().splitlines():
                try:
                    json.loads(line)
                except ValueError:
                    unreadable.append(line)
        self.assertEqual(unreadable, [stub])  # the stub alone, the rerun's first record not glued onto it
        rc, st = status(os.path.join(d, "out"), "--verify")
        self.assertEqual((rc, st[0]["done"], st[0]["damaged_results"]), (0, 9, 0), st)
        again = mosaic_levels(os.path.join(d, "out", "mosaic.ims"))
        ref = mosaic_levels(os.path.join(self.ref, "out", "mosaic.ims"))
        for k in ref:
            np.testing.assert_array_equal(first[k], ref[k], err_msg=str(k))
            np.testing.assert_array_equal(again[k], ref[k], err_msg=str(k))

    def _kill_and_resume(self, name, kill):
        d, ini = make_config(name)
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        p = mpirun(2, "--config", ini, start_new_session=True)
        mpath = os.path.join(d, "out", "manifest.jsonl")
        t0 = time.time()
        while time.time() - t0 < 600:
            if os.path.exists(mpath):
                with open(mpath) as fh:
                    if len(fh.read().splitlines()) >= 2:
                        break
            time.sleep(0.05)
        kill(p)
        p.communicate(timeout=120)
        # mpirun can be gone before its ranks (Open MPI puts them in their own process groups):
        # resume only once every process of the killed job has ended, as a scheduler would.
        sid = p.pid  # start_new_session: the session id is mpirun's pid
        t0 = time.time()
        # (Zombies do not count: where PID 1 does not reap orphans they would stay listed.)
        while subprocess.run(["pgrep", "-r", "R,S,D,T", "-s", str(sid)], capture_output=True).returncode == 0:
            self.assertLess(time.time() - t0, 60, "the killed job's processes did not end")
            time.sleep(0.05)
        done_before = len(manifest(d))
        self.assertLess(done_before, 9, "the kill came too late to interrupt anything")
        self.assertFalse(os.path.exists(os.path.join(d, "out", "mosaic.ims")))
        p = mpirun(2, "--config", ini)
        log = p.communicate(timeout=900)[0]
        self.assertEqual(p.returncode, 0, log[-2000:])
        ref = mosaic_levels(os.path.join(self.ref, "out", "mosaic.ims"))
        got = mosaic_levels(os.path.join(d, "out", "mosaic.ims"))
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k], err_msg=str(k))

    def test_kill_9_of_one_rank_then_resume_gives_the_same_mosaic(self):
        def kill_one_rank(p):
            # The annamosaic processes of this job: kill the highest pid (a worker rank).
            pids = subprocess.run(["pgrep", "-s", str(os.getpgid(p.pid)), "-f", "annamosaic run"],
                                  capture_output=True, text=True).stdout.split()
            pids = [int(x) for x in pids if int(x) != p.pid]
            os.kill(max(pids), signal.SIGKILL)
        self._kill_and_resume("kill_rank", kill_one_rank)

    def test_kill_9_of_the_whole_job_then_resume_gives_the_same_mosaic(self):
        # Every process of the job at once (mpirun and its ranks share its session), as a node loss would.
        self._kill_and_resume("kill_job", lambda p: subprocess.run(["pkill", "-KILL", "-s", str(p.pid)]))

    def test_max_fovs_stops_before_the_stitch_stage_with_exit_75(self):
        # A trial of a few FoVs must not end in an error, nor make a mosaic of a part of the grid.
        d, ini = make_config("max_fovs")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        p = subprocess.run([BIN, "run", "--config", ini, "--max-fovs", "3"], env=ENV, capture_output=True, text=True,
                           timeout=600)
        self.assertEqual(p.returncode, 75, p.stderr[-2000:])
        self.assertIn("--max-fovs 3: 6 FoV(s) left for a later run; the stitch stage runs once every FoV is done",
                      p.stderr)
        self.assertEqual(len(manifest(d)), 3)
        self.assertFalse(os.path.exists(os.path.join(d, "out", "mosaic.ims")))
        self.assertIn("stopped with 6 FoV(s) not done", status(ini)[1][0]["state"])

    def test_fovs_not_acquired_yet_are_said_as_such(self):
        # A campaign run while the microscope acquires: FoV 4 has neither file yet, FoV 5 its widefield
        # (taken first) but not its table.
        d, ini = make_config("not_acquired")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        shutil.rmtree(os.path.join(d, "campaign", "fov", "0004"))
        os.remove(os.path.join(d, "campaign", "fov", "0005", "locs.csv"))
        p = subprocess.run([BIN, "run", "--config", ini, "--max-fovs", "1"], env=ENV, capture_output=True, text=True,
                           timeout=600)
        self.assertEqual(p.returncode, 75, p.stderr[-2000:])
        self.assertIn("1 FoV(s) have neither a table nor a widefield file (ids 4): not acquired yet", p.stderr)
        self.assertIn("1 FoV(s) have a widefield but no table yet (ids 5): under way", p.stderr)
        self.assertNotIn("have no widefield file", p.stderr)  # not "reconstructed from their localizations alone"
        # The whole run: the places of FoVs 4 and 5 are left empty, both said apart from failures (a
        # user's probe of a run while acquiring saw every FoV to come as "failed", crossed out in red;
        # and FoV 5, its widefield there, as failed still).
        p = subprocess.run([BIN, "run", "--config", ini], env=ENV, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 5, p.stderr[-2000:])
        self.assertNotIn("FoV 4 failed", p.stderr)
        self.assertNotIn("FoV 5 failed", p.stderr)
        self.assertIn("2 FoV(s) not acquired yet: their places are empty in the mosaic", p.stderr)
        self.assertIn("QC: 7 done, 0 failed, 2 not acquired yet, 0 without a result", p.stderr)
        with open(os.path.join(d, "out", "qc", "qc.json")) as fh:
            qc = json.load(fh)
        self.assertEqual((qc["summary"]["failed"], qc["summary"]["not_acquired"]), (0, 2))
        fovs = {t["id"]: t for t in qc["fovs"]}
        self.assertEqual((fovs[4]["status"], fovs[5]["status"]), ("not-acquired", "not-acquired"))
        self.assertEqual(fovs[5]["tile"], "empty")  # not a widefield-only tile, which looks like data
        with h5py.File(os.path.join(d, "out", "fov", "0005.h5"), "r") as h:  # nor its widefield in that channel
            self.assertFalse("widefield" in h and np.any(h["widefield"][()]), list(h.keys()))
        self.assertIn("not acquired yet (its widefield is there, its table not yet)", fovs[5]["reason"])
        code, reports = status(ini)
        self.assertEqual(code, 5)
        self.assertEqual((reports[0]["failed"], reports[0]["not_acquired"], reports[0]["not_acquired_fovs"]), (0, 2, [4, 5]))
        self.assertIn("not acquired yet", reports[0]["state"])
        # Run again with nothing arrived (a cron job's next tick): neither is redone, the manifest
        # does not grow, and the mosaic is kept.
        def manifest_lines():
            with open(os.path.join(d, "out", "manifest.jsonl")) as fh:
                return len(fh.readlines())
        lines = manifest_lines()
        p = subprocess.run([BIN, "run", "--config", ini], env=ENV, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 5, p.stderr[-2000:])
        self.assertIn("9 FoVs: 7 already done and verified, 2 still not acquired, 0 to process", p.stderr)
        self.assertIn("the mosaic is up to date", p.stderr)
        self.assertIn("QC: 7 done, 0 failed, 2 not acquired yet;", p.stderr)  # the report kept
        self.assertEqual(manifest_lines(), lines)
        # Once acquired (FoV 5's table written beside its widefield), the next run does them and finishes.
        shutil.copytree(os.path.join(self.ref, "campaign", "fov", "0004"), os.path.join(d, "campaign", "fov", "0004"))
        shutil.copy(os.path.join(self.ref, "campaign", "fov", "0005", "locs.csv"), os.path.join(d, "campaign", "fov", "0005"))
        st = status(ini)[1][0]
        self.assertEqual((st["not_acquired"], st["failed"], st["to_do"]), (0, 0, 2))  # both to do now
        p = subprocess.run([BIN, "run", "--config", ini], env=ENV, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertIn("7 already done and verified, 2 to process", p.stderr)

    def test_sighup_of_a_closed_session_stops_as_sigterm_does(self):
        # An ssh session that drops sends SIGHUP: the run stops cleanly and resumably (it was killed
        # without a word, exit 129).
        d, ini, rc, log = signalled_run("sighup", self.ref, signal.SIGHUP)
        self.assertEqual(rc, 75, log[-2000:])
        self.assertIn("stopped by SIGHUP (signal 1)", log)
        self.assertIn("stopped with", status(ini)[1][0]["state"])

    def test_ctrl_c_is_answered_at_once_and_stops_as_sigterm_does(self):
        # The user at the terminal hears at once what stopping does, and that a second Ctrl-C quits
        # (probe77: nothing was said until the FoVs in flight were done).
        d, ini, rc, log = signalled_run("sigint", self.ref, signal.SIGINT)
        self.assertEqual(rc, 75, log[-2000:])
        self.assertIn("Ctrl-C: stopping once the work in flight is recorded (FoVs finish; a stitch stops between steps); "
                      "a rerun resumes. Ctrl-C again quits at once", log)
        self.assertIn("stopped by Ctrl-C (SIGINT, signal 2)", log)
        self.assertIn("stopped with", status(ini)[1][0]["state"])

    def test_sigterm_stops_cleanly_with_exit_75_and_resumes(self):
        d, ini, rc, log = signalled_run("sigterm", self.ref, signal.SIGTERM)
        self.assertEqual(rc, 75, log[-2000:])
        self.assertIn("stopped by SIGTERM (signal 15)", log)
        n = len(manifest(d))
        self.assertGreaterEqual(n, 1)
        # `status` of the stopped campaign, named by its configuration: not finished (75), not running.
        rc, st = status(ini)
        self.assertEqual(rc, 75, st)
        self.assertEqual((st[0]["planned"], st[0]["done"], st[0]["to_do"], st[0]["running"]), (9, n, 9 - n, False))
        self.assertIn("stopped with", st[0]["state"])
        self.assertIsNone(st[0]["mosaic"])
        p = subprocess.run([BIN, "run", "--config", ini], env=ENV, capture_output=True, text=True, timeout=900)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(len(manifest(d)), 9)
        # Finished now; the same by its output folder; with the reference and a campaign not started
        # yet in one list, the worst state decides the exit status.
        rc, st = status(os.path.join(d, "out"))
        self.assertEqual(rc, 0, st)
        self.assertEqual((st[0]["state"], st[0]["done"], st[0]["to_do"], st[0]["mosaic"]["up_to_date"]), ("finished", 9, 0, True))
        listed = os.path.join(d, "campaigns.txt")
        with open(listed, "w") as fh:
            fh.write(f"# two grids\n{ini}\n{self.ref_ini}\n")
        self.assertEqual(status("--list", listed)[0], 0)
        later = os.path.join(d, "later.ini")  # a grid whose run has not started yet
        with open(later, "w") as fh:
            fh.write(f"[run]\ncampaign = {d}/campaign\noutput = {d}/later-out\n")
        rc, st = status("--list", listed, later)
        self.assertEqual(rc, 75, st)
        self.assertEqual([x["state"] for x in st], ["not started (no output folder yet)", "finished", "finished"])
        p = subprocess.run([BIN, "status", "--list", listed, later], env=ENV, capture_output=True, text=True, timeout=120)
        self.assertIn("(campaign " + d + "/campaign: 9 FoVs, 3 x 3)\n  state:   not started", p.stdout)
        self.assertIn("3 campaigns: 2 finished, 0 running, 1 other; FoVs 18 of 27 done", p.stdout)  # its FoVs count
        # A mistyped folder is an error (2), and the others are still reported.
        rc, st = status("--list", listed, os.path.join(d, "uot"))
        self.assertEqual(rc, 2, st)
        self.assertIn("no such output folder or run configuration", st[0]["state"])
        self.assertEqual([x["state"] for x in st[1:]], ["finished", "finished"])
        p = subprocess.run([BIN, "status", "--list", listed], env=ENV, capture_output=True, text=True, timeout=120)
        self.assertIn("2 campaigns: 2 finished, 0 running, 0 other; FoVs 18 of 18 done, 0 failed", p.stdout)
        # A folder given as the list is said as such (probe102: "cannot open the file").
        p = subprocess.run([BIN, "status", "--list", d], env=ENV, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("--list %s: is a folder; --list takes a file of paths, one a line" % d, p.stderr)
        # The configuration given decides, not the output's record of its last run: another
        # stitch setting makes the mosaic out of date (the next run with it would remake it).
        with open(os.path.join(d, "blend-max.ini"), "w") as fh:
            fh.write(open(ini).read() + "blend = max\n")
        rc, st = status(os.path.join(d, "blend-max.ini"))
        self.assertEqual((rc, st[0]["mosaic"]["up_to_date"]), (75, False), st)
        self.assertIn("the mosaic was made with other stitch settings than %s's (blend \"max\" (was \"linear\")): a run of "
                      "this configuration remakes it" % os.path.join(d, "blend-max.ini"), st[0]["state"])
        # Two configurations of one output are two reports (the second went unsaid, exit 0); the
        # output folder beside them is one of them.
        rc, st = status(ini, os.path.join(d, "blend-max.ini"), os.path.join(d, "out"))
        self.assertEqual((rc, [x["target"] for x in st]), (75, [ini, os.path.join(d, "blend-max.ini")]), st)
        rc, st = status(os.path.join(d, "out"), os.path.join(d, "blend-max.ini"))
        self.assertEqual((rc, [x["target"] for x in st]), (75, [os.path.join(d, "blend-max.ini")]), st)
        # run_summary.json: "processed" is this run's share; all_done_fovs covers both runs.
        with open(os.path.join(d, "out", "run_summary.json")) as fh:
            summary = json.load(fh)
        self.assertEqual(summary["processed"], 9 - n)
        self.assertEqual(summary["all_done_fovs"]["fovs"], 9)
        self.assertGreater(summary["all_done_fovs"]["stage_seconds"]["infer"],
                           summary["stages"].get("infer", {}).get("seconds", 0))

    def _copy_of_reference_fovs(self, name):
        """A new run folder holding the reference's campaign and FoV results (the stitch stage to do)."""
        d, ini = make_config(name)
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        shutil.copytree(os.path.join(self.ref, "out", "fov"), os.path.join(d, "out", "fov"))
        for f in ("manifest.jsonl", "fov_settings.json"):
            shutil.copy(os.path.join(self.ref, "out", f), os.path.join(d, "out", f))
        return d, ini

    def test_a_run_folder_with_fnv1a_checksums_resumes_without_redoing_anything(self):
        # Run folders made before checksums became XXH3 hold FNV-1a ones (results, inputs, model):
        # a rerun with this version checks them with FNV-1a and redoes nothing.
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d, ini = self._copy_of_reference_fovs("fnv_checksums")

        def fnv1a64(path):
            h = 0xcbf29ce484222325
            with open(path, "rb") as fh:
                for b in fh.read():
                    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
            return f"fnv1a64:{h:016x}"

        recs = manifest(d)
        self.assertTrue(all(r["checksum"].startswith("xxh3:") for r in recs.values()), recs)
        with open(os.path.join(d, "out", "manifest.jsonl"), "w") as fh:
            for r in recs.values():
                r["checksum"] = fnv1a64(os.path.join(d, "out", r["file"]))
                for stamp in r["extra"]["inputs"].values():
                    stamp["checksum"] = fnv1a64(os.path.join(d, "campaign", stamp["path"]))
                fh.write(json.dumps(r) + "\n")
            # And a record of another campaign that used this folder: not counted, left alone.
            fh.write(json.dumps(dict(recs[0], id=42, file="fov/0042.h5")) + "\n")
        settings_path = os.path.join(d, "out", "fov_settings.json")
        with open(settings_path) as fh:
            settings = json.load(fh)
        settings["model"] = fnv1a64(os.path.join(REPO, "models", "anet-microtubules-ngf16.h5"))
        with open(settings_path, "w") as fh:
            json.dump(settings, fh)
        # One input with a new modification time: its content is compared, by FNV-1a too.
        table = os.path.join(d, "campaign", recs[0]["extra"]["inputs"]["table"]["path"])
        st = os.stat(table)
        os.utime(table, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        p = mpirun(1, "--config", ini, "--stage", "fovs")
        log = p.communicate(timeout=600)[0]
        self.assertEqual(p.returncode, 0, log[-3000:])
        self.assertIn("9 already done and verified, 0 to process", log)
        self.assertNotIn("other settings", log)
        self.assertIn("records 1 FoV id(s) this campaign does not have (42)", log)

    def test_status_of_an_output_folder_finds_a_relative_campaign_from_anywhere(self):
        # A configuration with relative paths (the demo's style): the run records its working
        # folder in OUT/config.ini, so `status OUT` asked from elsewhere still finds the campaign.
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d, _ = self._copy_of_reference_fovs("status_relative")
        with open(os.path.join(d, "rel.ini"), "w") as fh:
            fh.write("threads = 1\n[run]\ncampaign = campaign\noutput = out\n")
        p = subprocess.run([BIN, "run", "--config", "rel.ini", "--stage", "stitch"], env=ENV, cwd=d,
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        rc, st = status(os.path.join(d, "out"))  # from the test's working folder, not d
        self.assertEqual(rc, 0, st)
        self.assertEqual(os.path.realpath(st[0]["campaign"]), os.path.realpath(os.path.join(d, "campaign")))
        self.assertEqual(st[0]["state"], "finished")
        # The configuration itself names paths relative to where it is used, as for `run`.
        rc, st = status(os.path.join(d, "rel.ini"))
        self.assertEqual(rc, 2, st)
        self.assertIn("relative paths are taken from the working folder, as run takes them", st[0]["state"])
        # Not finished without its QC report (a run killed in the QC stage); a manifest line of the
        # wrong shape is not a crash, and not a folder to give up on (2): the next run moves it aside.
        os.rename(os.path.join(d, "out", "qc", "qc.json"), os.path.join(d, "qc.json"))
        rc, st = status(os.path.join(d, "out"))
        self.assertEqual((rc, st[0]["state"]), (75, "FoVs and mosaic finished, the QC report is missing: run the same command again"))
        with open(os.path.join(d, "out", "manifest.jsonl"), "a") as fh:
            fh.write('{"id": "7", "status": "done"}\n')
        rc, st = status(os.path.join(d, "out"))
        self.assertEqual(rc, 75, st)
        self.assertIn("manifest.jsonl: line 10 is not a FoV record (edited, or damaged): run the same command again",
                      st[0]["state"])

    def test_status_before_any_run_and_of_a_configuration_that_is_not_a_run(self):
        # The demo's layout: the campaign lives inside the output folder, so the folder exists
        # before any run; with no run's records in it, nothing was started.
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d = os.path.join(TMP, "status_none")
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "out", "campaign"))
        with open(os.path.join(d, "run.ini"), "w") as fh:
            fh.write(f"[run]\ncampaign = {d}/out/campaign\noutput = {d}/out\n")
        with open(os.path.join(d, "train.ini"), "w") as fh:
            fh.write("[train]\nsteps = 3\n")
        rc, st = status(os.path.join(d, "run.ini"))
        self.assertEqual((rc, st[0]["state"]), (75, f"not started ({d}/out holds no run's records yet)"))
        rc, st = status(os.path.join(d, "train.ini"))
        self.assertEqual(rc, 2, st)
        self.assertIn("not a run configuration", st[0]["state"])

    def test_a_second_run_on_the_same_output_is_refused_and_leftover_temporaries_go(self):
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d, ini = self._copy_of_reference_fovs("lock")
        out = os.path.join(d, "out")
        with open(os.path.join(out, "mosaic.ims.tmp.4242"), "wb") as fh:  # a killed writer's leftover
            fh.write(b"\0" * 100000)
        # Another process holds the folder's lock (as a running job's rank 0 does: fcntl, so
        # that it also works on NFS); a run started meanwhile is refused and names the holder.
        with open(os.path.join(out, ".annamosaic.lock"), "w") as held:
            held.write("pid 4242 on node17 since 2026-12-03 10:00:00\n")
            held.flush()
            fcntl.lockf(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            p = subprocess.run([BIN, "run", "--config", ini, "--stage", "stitch"], env=ENV, capture_output=True,
                               text=True, timeout=300)
            self.assertEqual(p.returncode, 2, p.stdout[-2000:] + p.stderr[-2000:])
            self.assertIn("another annamosaic run is writing this output folder (pid 4242 on node17",
                          p.stdout + p.stderr)
            self.assertTrue(os.path.exists(os.path.join(out, "mosaic.ims.tmp.4242")))  # not its to remove
            # `status` from another process sees the run going on, and who runs it.
            rc, st = status(out)
            self.assertEqual(rc, 75, st)
            self.assertEqual(st[0]["running"], "pid 4242 on node17 since 2026-12-03 10:00:00")
            self.assertTrue(st[0]["state"].startswith("running (pid 4242 on node17"))
            self.assertEqual(st[0]["leftover_temporaries"]["files"], 0)  # a running run's are in use
        # The lock file stays after the holder ended; only a held lock means running.
        st = status(out)[1][0]
        self.assertIs(st["running"], False)
        # With nobody running, status counts what a killed writer left (probe89: unmentioned).
        self.assertEqual(st["leftover_temporaries"], {"files": 1, "bytes": 100000})
        text = subprocess.run([BIN, "status", out], env=ENV, capture_output=True, text=True, timeout=120).stdout
        self.assertIn("leftover: 1 temporary file(s) (0.1 MB, NAME.tmp.PID) a killed run left: the next run removes them",
                      text)
        # Once the holder is gone the run goes ahead and removes what the killed writer left.
        p = subprocess.run([BIN, "run", "--config", ini, "--stage", "stitch"], env=ENV, capture_output=True,
                           text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertIn("removed 1 temporary file(s)", p.stdout + p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "mosaic.ims.tmp.4242")))

    def test_wrong_kind_of_output_fails_before_work_and_a_rank0_failure_ends_every_rank(self):
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d, ini = self._copy_of_reference_fovs("wrong_kind")
        os.makedirs(os.path.join(d, "out", "mosaic.ims"))
        p = mpirun(2, "--config", ini, "--stage", "stitch")
        log = p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 3, log[-3000:])
        self.assertIn("mosaic.ims: is a folder", log)
        self.assertNotIn("layout:", log)  # refused before registering anything
        # Every rank fails, but the agreed failure's final line is rank 0's alone.
        self.assertEqual(log.count("annamosaic run: error:"), 1, log[-3000:])
        # A file only rank 0 writes fails after the collective work: the other rank must end too
        # (it waited forever in the next collective), and the reason is said once.
        os.rmdir(os.path.join(d, "out", "mosaic.ims"))
        os.makedirs(os.path.join(d, "out", "stitch_summary.json"))
        p = mpirun(2, "--config", ini, "--stage", "stitch")
        log = p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 3, log[-3000:])
        self.assertIn("stitch_summary.json", log)
        self.assertEqual(log.count("annamosaic run: error:"), 1, log[-3000:])

    def test_signal_during_the_stitch_stage_stops_with_exit_75_and_leaves_no_temp_file(self):
        # A pre-empted stitch job (SIGUSR1 from SLURM, through mpirun to both ranks) must stop
        # within its grace time, not fuse on, and the rerun must give the reference mosaic.
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d, ini = self._copy_of_reference_fovs("stitch_signal")
        # With the OME-TIFF export the stitch stage checks for a stop from the layout to the QC
        # report (the mosaic here is one block, so fusion alone is too short a window).
        # Sent to rank 1 alone (the signal mpirun forwards to both is tested with the FoV stage):
        # every rank stops, and the record names the signal rank 0 did not receive.
        p = mpirun(2, "--config", ini, "--stage", "stitch", "--ome-tiff")
        log = ""
        for line in p.stdout:  # the layout is solved: fusion starts now
            log += line
            if "layout:" in line:
                os.kill(rank_pid(p.pid, 1), signal.SIGUSR1)
                break
        log += p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 75, log[-3000:])
        self.assertIn("stopped by SIGUSR1 (signal 10)", log)
        self.assertEqual([f for f in os.listdir(os.path.join(d, "out")) if ".tmp" in f], [])
        self.assertFalse(os.path.exists(os.path.join(d, "out", "mosaic.ome.tif")))
        # The stop is recorded (the SLURM script tells it from a rank killed out of memory by it),
        # and the record goes when the stage runs again.
        with open(os.path.join(d, "out", "stitch_stopped.json")) as f:
            record = json.load(f)
        self.assertTrue(record["stopped"])
        self.assertEqual(record["signal"], 10)
        self.assertIn("stitch stage stopped", record["why"])
        p = mpirun(2, "--config", ini, "--stage", "stitch")
        log = p.communicate(timeout=600)[0]
        self.assertEqual(p.returncode, 0, log[-3000:])
        self.assertFalse(os.path.exists(os.path.join(d, "out", "stitch_stopped.json")))
        ref = mosaic_levels(os.path.join(self.ref, "out", "mosaic.ims"))
        got = mosaic_levels(os.path.join(d, "out", "mosaic.ims"))
        self.assertEqual(sorted(ref), sorted(got))
        for k in ref:
            np.testing.assert_array_equal(ref[k], got[k], err_msg=str(k))

    def test_status_during_the_stitch_stage_says_the_step_under_way(self):
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d, ini = self._copy_of_reference_fovs("stitch_step")
        p = mpirun(2, "--config", ini, "--stage", "stitch", "--ome-tiff")
        log, ranks = "", []
        for line in p.stdout:
            log += line
            if "layout:" in line:  # registered; held still while status looks
                ranks = [rank_pid(p.pid, r) for r in (0, 1)]
                for pid in ranks:
                    os.kill(pid, signal.SIGSTOP)
                break
        try:
            rc, st = status(os.path.join(d, "out"))
            self.assertEqual(rc, 75, st)
            self.assertTrue(st[0]["running"], st)
            self.assertIn(st[0]["stitch_step_now"]["step"], ("registering the overlaps of neighbouring tiles",
                                                              "fusing the mosaic and its pyramid (mosaic.ims)"))
            text = subprocess.run([BIN, "status", os.path.join(d, "out")], env=ENV, capture_output=True, text=True,
                                  timeout=120).stdout
            self.assertRegex(text, r"\n  now:     (registering|fusing) .* \(for \d+ s\)\n")
        finally:
            for pid in ranks:
                os.kill(pid, signal.SIGCONT)
        log += p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 0, log[-3000:])
        # Finished: the note is gone, and status has no step to show.
        self.assertFalse(os.path.exists(os.path.join(d, "out", "stage_now.json")))
        self.assertIsNone(status(os.path.join(d, "out"))[1][0]["stitch_step_now"])

    def test_a_stop_during_the_ome_tiff_export_keeps_the_mosaic(self):
        # mosaic.ims is recorded before the export: a stop then costs the export, not the stage.
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        for attempt in range(3):  # a signal that arrives only after the QC report's start: too late, again
            d, ini = self._copy_of_reference_fovs("stitch_stop_in_export")
            p = mpirun(2, "--config", ini, "--stage", "stitch", "--ome-tiff")
            log = ""
            for line in p.stdout:
                log += line
                if "wrote " in line and "BigDataViewer XML" in line:  # mosaic.ims complete: the export is next
                    p.send_signal(signal.SIGUSR1)
                    break
            log += p.communicate(timeout=300)[0]
            if p.returncode == 75:
                break
        self.assertEqual(p.returncode, 75, log[-3000:])
        # The step under way is said only while it is (probe100: a stage ended by an error left it).
        self.assertFalse(os.path.exists(os.path.join(d, "out", "stage_now.json")))
        # Stopped before or in the export (or, on a slow signal, at the QC report after it).
        exported = os.path.exists(os.path.join(d, "out", "mosaic.ome.tif"))
        if not exported:  # status foresees what the rerun does
            with_export = os.path.join(d, "with-export.ini")  # the configuration as run: --ome-tiff in it
            with open(ini) as src, open(with_export, "w") as fh:
                fh.write(src.read() + "ome-tiff = true\n")
            text = subprocess.run([BIN, "status", with_export], env=ENV, capture_output=True, text=True, timeout=120).stdout
            self.assertIn("up to date; only its OME-TIFF export is missing or changed since: the next run makes "
                          "mosaic.ome.tif from it", text)
            # ... and says the stop, with the QC report it left unwritten.
            self.assertIn("state:   FoVs and mosaic finished, its OME-TIFF export is missing or not the one the run wrote, "
                          "and the QC report is missing; the last stitch stage was stopped (", text)
            self.assertIn("run the same command again (it exports mosaic.ims anew and writes the report)", text)
        p = mpirun(2, "--config", ini, "--stage", "stitch", "--ome-tiff")
        log = p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 0, log[-3000:])
        self.assertIn("the mosaic is up to date" if exported else "only its OME-TIFF export is missing", log)
        self.assertNotIn("layout:", log)  # neither registered nor fused again
        with tifffile.TiffFile(os.path.join(d, "out", "mosaic.ome.tif")) as t:
            self.assertTrue(t.is_ome)

    def test_a_rerun_with_nothing_changed_keeps_the_mosaic(self):
        # The stitch stage is redone only when its inputs or settings changed or its files were
        # touched: a rerun to make sure (or a requeued job that had finished) keeps the mosaic.
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d, ini = self._copy_of_reference_fovs("stitch_up_to_date")
        ims = os.path.join(d, "out", "mosaic.ims")

        def stitch(*extra):
            p = mpirun(2, "--config", ini, "--stage", "stitch", *extra)
            log = p.communicate(timeout=300)[0]
            self.assertEqual(p.returncode, 0, log[-3000:])
            return log

        self.assertNotIn("up to date", stitch())
        made = os.stat(ims).st_mtime_ns
        qc = os.path.join(d, "out", "qc", "qc.json")
        qc_made = os.stat(qc).st_mtime_ns
        log = stitch()
        self.assertIn("the mosaic is up to date", log)
        self.assertEqual(os.stat(ims).st_mtime_ns, made)
        # ... and its QC report, made after it (it reads every FoV result: minutes at scale).
        self.assertIn("QC: 9 done, 0 failed, 0 not acquired yet; 0 flagged; the report in", log)
        self.assertEqual(os.stat(qc).st_mtime_ns, qc_made)
        log = stitch("--ome-tiff")  # an export it lacks: made from mosaic.ims, which stays
        self.assertIn("only its OME-TIFF export is missing", log)
        self.assertEqual(os.stat(ims).st_mtime_ns, made)
        self.assertTrue(os.path.exists(os.path.join(d, "out", "mosaic.ome.tif")))
        with tifffile.TiffFile(os.path.join(d, "out", "mosaic.ome.tif")) as t:  # an independent reader
            self.assertTrue(t.is_ome)
            self.assertEqual(t.series[0].shape[-2:], mosaic_levels(ims)[("ResolutionLevel 0", "Channel 0")].shape)
        self.assertIn("up to date", stitch("--ome-tiff"))
        # A recorded mosaic.ims that is gone is said missing, not given its recorded size as if there
        # (probe77), and one there without its record is not "not made yet".
        os.rename(ims, ims + ".away")
        rc, st = status(ini)
        self.assertEqual((rc, st[0]["mosaic"]["file_present"]), (75, False), st)
        self.assertIn("the mosaic is missing (mosaic.ims)", st[0]["state"])
        p = subprocess.run([BIN, "status", ini], env=ENV, capture_output=True, text=True, timeout=120)
        self.assertIn("/mosaic.ims is missing (stitch_summary.json records a ", p.stdout)
        os.rename(ims + ".away", ims)
        summary = os.path.join(d, "out", "stitch_summary.json")
        os.rename(summary, summary + ".away")
        p = subprocess.run([BIN, "status", ini], env=ENV, capture_output=True, text=True, timeout=120)
        self.assertIn("/mosaic.ims is there, but no stitch_summary.json records it", p.stdout)
        os.rename(summary + ".away", summary)
        self.assertEqual(status(ini)[0], 0)
        # A remake stopped before its mosaic replaces the old one keeps the old mosaic and its export
        # together (probe77: the export was deleted at the start, the old mosaic kept).
        p = mpirun(2, "--config", ini, "--stage", "stitch", "--blend", "max")
        log = ""
        for line in p.stdout:
            log += line
            if "stitch stage: making the mosaic again" in line:  # said before registration: time to spare
                p.send_signal(signal.SIGUSR1)  # mpirun passes it to the ranks
                break
        log += p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 75, log[-3000:])
        self.assertEqual(os.stat(ims).st_mtime_ns, made)
        self.assertTrue(os.path.exists(os.path.join(d, "out", "mosaic.ome.tif")))
        with open(os.path.join(d, "out", "mosaic.ome.config.ini"), "w") as fh:  # as `export` writes beside it
            fh.write("[export]\n")
        log = stitch("--blend", "max")  # another setting: redone, and said why
        self.assertNotIn("up to date", log)
        self.assertIn('stitch stage: making the mosaic again: a setting changed since it was made: blend "max" (was "linear")',
                      log)
        # ... without --ome-tiff this time: the export of the previous mosaic does not stay.
        self.assertIn("removed " + os.path.join(d, "out") + "/mosaic.ome.tif", log)
        self.assertIn(": it showed the previous mosaic, which this stage replaces", log)
        self.assertFalse(os.path.exists(os.path.join(d, "out", "mosaic.ome.tif")))
        self.assertFalse(os.path.exists(os.path.join(d, "out", "mosaic.ome.config.ini")))  # nor what described it
        with open(ims, "r+b") as fh:  # the file changed since (a viewer wrote to it): redone
            fh.seek(0, 2)
            fh.write(b"\0")
        log = stitch("--blend", "max")
        self.assertIn("making the mosaic again: mosaic.ims changed since it was written", log)
        ref = mosaic_levels(os.path.join(self.ref, "out", "mosaic.ims"))
        got = mosaic_levels(ims)
        self.assertEqual(sorted(ref), sorted(got))

    def test_a_signal_that_reaches_one_rank_only_stops_every_rank(self):
        # `kill -USR1` of one rank's process (or a signal forwarded to one node only): the other
        # rank must stop too, with 75, not fuse on and fail on the missing blocks.
        self.assertEqual(self.ref_rc, 0, self.ref_log[-3000:])
        d, ini = self._copy_of_reference_fovs("stitch_signal_one_rank")
        p = mpirun(2, "--config", ini, "--stage", "stitch", "--ome-tiff")
        log = ""
        for line in p.stdout:
            log += line
            if "layout:" in line:
                os.kill(rank_pid(p.pid, 1), signal.SIGUSR1)
                break
        log += p.communicate(timeout=300)[0]
        self.assertEqual(p.returncode, 75, log[-3000:])
        self.assertIn("stopped by SIGUSR1 (signal 10)", log)  # rank 1
        self.assertIn("stopped (another rank was signalled)", log)  # rank 0
        self.assertNotIn("missing", log)
        self.assertEqual([f for f in os.listdir(os.path.join(d, "out")) if ".tmp" in f], [])

    def test_sigterm_to_mpirun_says_at_once_that_fovs_in_flight_are_lost_and_how_to_keep_them(self):
        # Ctrl-C at mpirun's terminal reaches mpirun alone, which forwards it as SIGTERM and kills
        # the ranks about a second later (probe89: 0 of about 6 FoVs in flight recorded, nothing
        # said). Rank 0 says so at once, with the signal that lets them finish; finished FoVs stay.
        d, ini = make_config("mpirun_sigterm")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        p = mpirun(2, "--config", ini)
        mpath = os.path.join(d, "out", "manifest.jsonl")
        t0 = time.time()
        while not os.path.exists(mpath) and time.time() - t0 < 600:
            time.sleep(0.05)
        p.send_signal(signal.SIGTERM)
        log = p.communicate(timeout=300)[0]
        self.assertNotEqual(p.returncode, 0, log[-2000:])  # mpirun's own status (1), whatever the ranks said
        self.assertIn("SIGTERM (Ctrl-C or a kill to mpirun, forwarded; or mpirun stopping the ranks because one of them "
                      "died: see its message below): stopping once the work in flight is recorded, but mpirun kills its "
                      "ranks about a second later", log)
        self.assertIn("kill -USR1 <mpirun's pid>", log)
        self.assertEqual(log.count("SIGTERM (Ctrl-C or a kill to mpirun"), 1, log[-2000:])  # rank 0's voice only
        self.assertGreaterEqual(len(manifest(d)), 1)

    def test_a_result_that_cannot_be_written_stops_the_run_with_exit_3_and_a_rerun_resumes(self):
        # Results that cannot be written (here a folder in the way; a full disk or a quota the
        # same) are the environment's fault: the run stops rather than compute FoVs to discard.
        d, ini = make_config("write_fails")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        os.makedirs(os.path.join(d, "out", "fov", "0004.h5"))
        p = subprocess.run([BIN, "run", "--config", ini], env=ENV, capture_output=True, text=True, timeout=900)
        self.assertEqual(p.returncode, 3, p.stderr[-3000:])
        self.assertIn("the run stopped; fix that (room on the disk, a quota, permissions of", p.stdout + p.stderr)
        self.assertIn("0004.h5", manifest(d)[4]["reason"])
        self.assertFalse(os.path.exists(os.path.join(d, "out", "mosaic.ims")))  # nothing stitched
        os.rmdir(os.path.join(d, "out", "fov", "0004.h5"))
        p = subprocess.run([BIN, "run", "--config", ini], env=ENV, capture_output=True, text=True, timeout=900)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        self.assertTrue(all(r["status"] == "done" for r in manifest(d).values()))
        self.assertEqual(len(manifest(d)), 9)

    def test_one_bad_fov_is_recorded_and_marked_and_the_run_goes_on(self):
        d, ini = make_config("badfov")
        shutil.copytree(os.path.join(self.ref, "campaign"), os.path.join(d, "campaign"))
        with open(os.path.join(d, "campaign", "fov", "0002", "locs.csv"), "a") as fh:
            fh.write("99999,12,not-a-number,1000,1500.0,10.00\n")
        p = mpirun(2, "--config", ini)
        log = p.communicate(timeout=900)[0]
        self.assertEqual(p.returncode, 5, log[-2000:])
        recs = manifest(d)
        self.assertEqual(recs[2]["status"], "failed")
        self.assertIn("locs.csv", recs[2]["reason"])
        self.assertIn("not a number", recs[2]["reason"])
        self.assertEqual(sum(r["status"] == "done" for r in recs.values()), 8)
        # Its overlaps are not registered, and the layout's count says so (the warnings count the
        # overlaps tried).
        self.assertRegex(log, r"layout: 12 pairs \([234] not tried: one of their FoVs failed or was not acquired\) on 2 rank")
        with open(os.path.join(d, "out", "qc", "qc.json")) as fh:
            qc = json.load(fh)
        self.assertEqual(qc["summary"]["failed"], 1)
        bad = next(t for t in qc["fovs"] if t["id"] == 2)
        self.assertEqual((bad["status"], bad["tile"], bad["widefield"]), ("failed", "widefield-only", False))
        self.assertTrue(os.path.exists(os.path.join(d, "out", "mosaic.ims")))
        rc, st = status(os.path.join(d, "out"))
        self.assertEqual(rc, 5, st)
        self.assertEqual((st[0]["done"], st[0]["failed"], st[0]["to_do"]), (8, 1, 1))
        self.assertEqual(st[0]["failed_fovs"][0]["id"], 2)
        self.assertIn("not a number", st[0]["failed_fovs"][0]["reason"])
        self.assertTrue(st[0]["mosaic"]["up_to_date"])
        p = subprocess.run([BIN, "status", os.path.join(d, "out"), "--map"], env=ENV, capture_output=True, text=True,
                           timeout=120)
        self.assertIn("8 of 9 done, 1 failed, 0 not yet", p.stdout)
        self.assertIn("FoV 2: ", p.stdout)
        # --map: the failed FoV where positions.csv puts it.
        with open(os.path.join(d, "campaign", "positions.csv")) as fh:
            where = {int(r["id"]): (int(r["row"]), int(r["col"])) for r in csv.DictReader(fh)}
        expected = [["#"] * 3 for _ in range(3)]
        expected[where[2][0]][where[2][1]] = "x"
        lines = p.stdout.splitlines()
        at = next(i for i, l in enumerate(lines) if l.startswith("  map:"))
        self.assertEqual([l.strip() for l in lines[at + 1:at + 4]], ["".join(r) for r in expected], p.stdout)
        with h5py.File(os.path.join(d, "out", "fov", "0002.h5"), "r") as f:
            self.assertEqual(f.attrs["status"].decode() if isinstance(f.attrs["status"], bytes) else f.attrs["status"], "degraded")



class AcquiredSoFar(unittest.TestCase):
    def test_a_campaign_half_acquired_registers_its_overlaps(self):
        # Two rows of a 5 x 5 campaign, the rest not acquired yet (a user's probe): 41 random
        # non-adjacent pairs matched, one by chance at 0.92 (the next 0.51), and as their "99%
        # quantile" it set the threshold above every true overlap (0.87-0.91): 1 of 13 registered.
        d = os.path.join(TMP, "half_acquired")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        sim = os.path.join(d, "sim")
        subprocess.run([BIN, "simulate", "--rows", "5", "--cols", "5", "--fov-um", "15", "--overlap-um", "1.5",
                        "--threads", "2", "-o", sim], env=ENV, capture_output=True, text=True, timeout=600, check=True)
        with open(os.path.join(sim, "positions.csv")) as fh:
            lines = fh.readlines()
        with open(os.path.join(sim, "positions.csv"), "w") as fh:
            fh.writelines(lines[:11])  # the header and rows 0 and 1 of the grid
        p = subprocess.run([BIN, "run", "--campaign", sim, "-o", os.path.join(d, "out"), "--threads", "2"], env=ENV,
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        with open(os.path.join(d, "out", "layout.json")) as fh:
            layout = json.load(fh)
        cal = layout["calibration"][0]
        self.assertGreater(cal["random_ncc_highest"], 0.9)          # the chance match is still there
        self.assertLess(cal["random_ncc_quantile"], 0.6)            # but does not set the threshold
        self.assertIn("taken as the second highest", p.stderr)
        self.assertGreaterEqual(layout["summary"]["used"], 10)      # of 13 overlaps (1 before)
        # The tiles placed by registration lie where the simulation put them, relative to each other.
        with open(os.path.join(sim, "ground_truth", "positions.csv")) as fh:
            truth = {int(r["id"]): (float(r["x_um"]), float(r["y_um"])) for r in csv.DictReader(fh)}
        reg = [t for t in layout["tiles"] if t["placed_by"] == "registration"]
        self.assertGreaterEqual(len(reg), 9)
        for axis, key in ((0, "x_um"), (1, "y_um")):
            off = [t[key] - truth[t["id"]][axis] for t in reg]
            mean = sum(off) / len(off)
            self.assertLess(max(abs(o - mean) for o in off), 0.02, key)  # 1 px of 20 nm

if __name__ == "__main__":
    unittest.main()
