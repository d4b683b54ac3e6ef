"""End-to-end checks of `train`, `reconstruct` and `evaluate` with independent readers
(tifffile, h5py, numpy). Run by ctest (anet_cli_end_to_end) with:
  ANNAMOSAIC_BIN        the annamosaic binary
  ANNAMOSAIC_ANET_MODEL the shipped model file
  ANNAMOSAIC_TEST_DATA  tests/data,  ANNAMOSAIC_TEST_TMP  a scratch folder
"""
import csv
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
from pathlib import Path

import h5py
import numpy as np
import tifffile
from scipy import ndimage

CLI = os.environ.get("ANNAMOSAIC_BIN", "annamosaic")
MODEL = Path(os.environ.get("ANNAMOSAIC_ANET_MODEL", "models/anet-microtubules-ngf16.h5"))
DATA = Path(os.environ.get("ANNAMOSAIC_TEST_DATA", "tests/data"))
TMP = Path(os.environ.get("ANNAMOSAIC_TEST_TMP", "/tmp/anet_cli_test"))
EPFL = DATA / "epfl2013-bundled-tubes-hd-groundtruth.csv"


def run(*args, check=True):
    # One thread: on a shared 2-core machine two OpenMP threads are several times slower.
    p = subprocess.run([CLI, *map(str, args), "--threads", "1"], capture_output=True, text=True, timeout=500)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (args, p.returncode, p.stdout, p.stderr))
    return p


def setUpModule():
    shutil.rmtree(TMP, ignore_errors=True)
    TMP.mkdir(parents=True)


class Train(unittest.TestCase):
    def test_dry_run_prints_reference_counts(self):
        out = run("train", "-o", TMP / "dry.h5", "--dry-run").stdout
        self.assertIn("generator G              39158464", out)
        self.assertIn("discriminator D          2766592", out)
        self.assertIn("low-res estimator Q      17153", out)

    def test_crops_of_a_region_of_interest_in_a_full_chip_widefield_hold_its_localizations(self):
        # The table covers 6 um in a corner of a 30 x 24 um widefield: crops drawn over the whole
        # camera field would mostly miss it (no S, no T).
        d = TMP / "roi"
        d.mkdir(parents=True, exist_ok=True)
        a = np.loadtxt(EPFL, delimiter=",", skiprows=1)
        a[:, 1] += 20000
        a[:, 2] += 15000
        np.savetxt(d / "roi.csv", a, delimiter=",", header="frame,x [nm],y [nm]", comments="", fmt=["%d", "%.2f", "%.2f"])
        img, _, _ = np.histogram2d(a[:, 2], a[:, 1], bins=(220, 280), range=((0, 220 * 108.0), (0, 280 * 108.0)))
        tifffile.imwrite(d / "wf.tif", (ndimage.gaussian_filter(img, 1.2) * 5 + 100).astype(np.float32))
        out = run("train", "--dataset", f"{d / 'roi.csv'},{d / 'wf.tif'}", "-o", d / "m.h5", "--dry-run").stdout
        m = re.search(r"samples 0-7: (\d+)\.\.(\d+) localizations in S \(median \d+\), 0 with no S", out)
        self.assertTrue(m, out)
        self.assertGreater(int(m.group(1)), 1000, out)
        # A malformed row left out by --skip-bad-rows is said by train as by every command.
        with open(d / "roi.csv", "a") as fh:
            fh.write("5,123.4,nan\n")
        p = run("train", "--dataset", f"{d / 'roi.csv'},{d / 'wf.tif'}", "-o", d / "m.h5", "--dry-run", "--skip-bad-rows")
        self.assertRegex(p.stderr, r"roi.csv: skipped 1 malformed row\(s\) of \d+ \(--skip-bad-rows\); first: .*roi.csv:\d+")

    def test_a_model_trained_without_widefields_and_a_checkpoint_are_said_when_used(self):
        d = TMP / "nowf"
        run("train", "--dataset", EPFL, "-o", d / "m.h5", "--ngf", 4, "--ndf", 4, "--steps", 2, "--validate-every", 0)
        with h5py.File(d / "m.h5", "r") as f:
            self.assertEqual(f["scalars"].attrs["lowres_estimator_steps"], 0)  # Q never trained
        with open(d / "m.train" / "losses.csv") as fh:  # no widefield, no Q loss: empty, not 0
            self.assertEqual([(r["q"], r["lowres"]) for r in csv.DictReader(fh)], [("", ""), ("", "")])
        img, _, _ = np.histogram2d(*np.loadtxt(EPFL, delimiter=",", skiprows=1)[:, [2, 1]].T, bins=(60, 60),
                                   range=((0, 6480.0), (0, 6480.0)))
        tifffile.imwrite(d / "wf.tif", (ndimage.gaussian_filter(img, 1.2) * 5 + 100).astype(np.float32))
        p = run("reconstruct", "--model", d / "m.h5", "--table", EPFL, "--widefield", d / "wf.tif", "-o", d / "r.tif")
        self.assertIn("was trained without widefields (its Q never trained): reconstructing from the localizations alone",
                      p.stderr)
        self.assertFalse((d / "r.error.tif").exists())
        # Nor Q(A) from the untrained Q (noise that read as a result: probe93), and said.
        self.assertFalse((d / "r.q.tif").exists())
        self.assertIn("(+ .sparse.tif, .png); no .q.tif: the model's Q never trained", p.stderr)
        p = run("reconstruct", "--model", d / "m.train" / "checkpoint.h5", "--table", EPFL, "-o", d / "c.tif")
        self.assertIn("checkpoint.h5 is a training checkpoint (the state at step 2", p.stderr)
        # run keeps neither either: its FoV results hold no q (probe93: fov/NNNN.h5 had the noise).
        run("simulate", "-o", d / "camp", "--rows", 1, "--cols", 1, "--fov-um", 6, "--cell-fraction", 1,
            "--cell-radius-um", 1000, "-q")
        p = run("run", "--campaign", d / "camp", "-o", d / "run-out", "--model", d / "m.h5")
        self.assertIn("was trained without widefields (its Q never trained): the FoVs are reconstructed from their "
                      "localizations alone, with no Q(A) or error map", p.stderr)
        with h5py.File(d / "run-out" / "fov" / "0000.h5", "r") as f:
            self.assertEqual(sorted(f), ["reconstruction", "sparse", "widefield"])
        # The simulated evaluation's S+W columns are said too (probe93: silent there).
        p = run("evaluate", "--model", d / "m.h5", "-o", d / "eval", "--fields", 1, "--field-px", 256, "--n", 1000,
                "--no-frc")
        self.assertIn("was trained without widefields (its Q never trained): its S+W and widefield-only scores measure an "
                      "input it never saw", p.stderr)
        # A table of one localization is no field of view to reconstruct (it made a 1 x 1 px image).
        with open(d / "one.csv", "w") as fh:
            fh.write("frame,x,y\n1,100,100\n")
        p = run("reconstruct", "--model", d / "m.h5", "--table", d / "one.csv", "-o", d / "one.tif", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("one.csv: its localizations span 1 x 1 px at 20 nm", p.stderr)
        self.assertFalse((d / "one.tif").exists())

    def test_a_few_steps_write_a_model_h5py_reads(self):
        d = TMP / "train"
        run("train", "-o", d / "m.h5", "--ngf", 4, "--ndf", 4, "--steps", 3, "--checkpoint-every", 2,
            "--validate-every", 2, "--validation-samples", 1, "--seed", 2)
        with h5py.File(d / "m.h5", "r") as f:
            self.assertEqual(int(f.attrs["ngf"]), 4)
            self.assertEqual(f["generator/enc1.conv.weight"].shape, (4, 2, 4, 4))
            # The command as typed, every option included (a reproducible recipe).
            command = f["provenance"].attrs["command"]
            command = command.decode() if isinstance(command, bytes) else command
            self.assertTrue(command.startswith("annamosaic train -o "), command)
            self.assertIn("--steps 3 --checkpoint-every 2", command)
            # The switch ids it learned (the simulator's microtubules: 0); inference refuses others.
            ids = f["provenance"].attrs["switch_ids"]
            self.assertEqual(ids.decode() if isinstance(ids, bytes) else ids, "0")
        with h5py.File(d / "m.train" / "checkpoint.h5", "r") as f:
            self.assertEqual(int(f["scalars"].attrs["step"]), 3)
            self.assertIn("discriminator", f)
            self.assertIn("adam", f)
        self.assertTrue((d / "m.config.ini").exists())
        # The loss curve: one line per step, the validation score where one ran: every 2 steps,
        # and at the last step (3), whose model would otherwise go unjudged (probe93).
        with open(d / "m.train" / "losses.csv") as fh:
            rows = list(csv.DictReader(fh))
        self.assertEqual([int(r["step"]) for r in rows], [1, 2, 3])
        self.assertTrue(all(np.isfinite(float(r["g"])) for r in rows))
        self.assertEqual([r["validation_ms_ssim"] != "" for r in rows], [False, True, True])
        # Every array carries HDF5's Fletcher-32 checksum: bytes changed inside a weight (a bad
        # copy) refuse the model, where the altered weights used to reconstruct without a word.
        bad = d / "damaged.h5"
        shutil.copy(d / "m.h5", bad)
        with h5py.File(bad, "r") as f:
            w = f["generator/enc2.conv.weight"]
            self.assertTrue(w.fletcher32)
            offset = w.id.get_chunk_info(0).byte_offset
        with open(bad, "r+b") as fh:
            fh.seek(offset + 16)
            fh.write(bytes(64))
        p = run("reconstruct", "--model", bad, "-o", d / "x.tif", "--table", EPFL, "--frames", "first:36", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("damaged.h5: cannot read dataset 'generator/enc2.conv.weight': its checksum does not match its data, "
                      "the file is damaged", p.stderr)
        self.assertFalse((d / "x.tif").exists())
        # Weights altered without a checksum to catch it (the shipped model's arrays have none;
        # probe95 flipped bytes there): finite, but overflowing to an all-NaN image, once written
        # with exit 0. Refused, naming the model, nothing written.
        huge = d / "huge.h5"
        shutil.copy(d / "m.h5", huge)
        with h5py.File(huge, "r+") as f:
            w = f["generator/enc2.conv.weight"]
            a = w[...]
            a.flat[::7] = np.float32(3e38)  # each finite; their sums are not
            w[...] = a
        p = run("reconstruct", "--model", huge, "-o", d / "x.tif", "--table", EPFL, "--frames", "first:36", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"huge\.h5: the A-net's reconstruction holds \d+ non-finite values \(NaN or infinity\) of "
                                   r"\d+: its weights are damaged")
        self.assertFalse((d / "x.tif").exists())
        # The whole chunk zeroed, its checksum with it (Fletcher-32 of zeros is 0): all-zero
        # convolution weights, which training never makes, are refused too.
        shutil.copy(d / "m.h5", bad)
        with h5py.File(bad, "r") as f:
            info = f["generator/enc2.conv.weight"].id.get_chunk_info(0)
        with open(bad, "r+b") as fh:
            fh.seek(info.byte_offset)
            fh.write(bytes(info.size))
        p = run("reconstruct", "--model", bad, "-o", d / "x.tif", "--table", EPFL, "--frames", "first:36", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("dataset 'generator/enc2.conv.weight' is all zeros", p.stderr)
        # run reads the arrays before it makes its output folder: refused, nothing left behind.
        run("simulate", "-o", d / "camp", "--rows", 1, "--cols", 1, "--fov-um", 5, "--frames", 200, "-q")
        p = run("run", "--campaign", d / "camp", "-o", d / "run-out", "--model", bad, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("is all zeros", p.stderr)
        self.assertFalse((d / "run-out").exists())

    def test_kill_9_loses_at_most_the_checkpoint_interval(self):
        d = TMP / "kill"
        args = [CLI, "train", "-o", str(d / "m.h5"), "--ngf", "4", "--ndf", "4", "--steps", "30",
                "--checkpoint-every", "2", "--validate-every", "0", "--threads", "1", "--seed", "4"]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ckpt = d / "m.train" / "checkpoint.h5"
        deadline = time.time() + 300
        step = 0
        while time.time() < deadline and step < 4 and p.poll() is None:
            time.sleep(0.5)
            try:
                with h5py.File(ckpt, "r") as f:
                    step = int(f["scalars"].attrs["step"])
            except (OSError, KeyError):
                pass  # not written yet
        self.assertIsNone(p.poll(), "training ended before it could be killed")
        p.send_signal(signal.SIGKILL)
        p.wait()
        with h5py.File(ckpt, "r") as f:  # the last complete checkpoint survives the kill
            killed_at = int(f["scalars"].attrs["step"])
        self.assertGreaterEqual(killed_at, 4)
        self.assertEqual(killed_at % 2, 0)
        with open(d / "m.train" / "losses.csv") as fh:
            after = [int(r["step"]) for r in csv.DictReader(fh) if int(r["step"]) > killed_at]
        r = run(*args[1:-4], "--seed", "4", "--resume")
        self.assertIn("resumed from", r.stderr)
        self.assertIn("at step %d" % killed_at, r.stderr)
        # The loss curve's lines after the checkpoint are dropped, and said (probe96: silently).
        if after:
            self.assertIn("the %d line(s) of steps %d..%d, made after the checkpoint, are dropped"
                          % (len(after), killed_at + 1, max(after)), r.stderr)
        else:
            self.assertNotIn("made after the checkpoint", r.stderr)
        with h5py.File(ckpt, "r") as f:
            self.assertEqual(int(f["scalars"].attrs["step"]), 30)
        with open(d / "m.train" / "losses.csv") as fh:  # steps redone after the kill appear once
            self.assertEqual([int(r["step"]) for r in csv.DictReader(fh)], list(range(1, 31)))

    def test_sigterm_saves_a_checkpoint_and_a_checkpoint_is_never_lost(self):
        d = TMP / "term"
        args = ["train", "-o", d / "m.h5", "--ngf", 4, "--ndf", 4, "--steps", 400, "--checkpoint-every", 1000,
                "--validate-every", 0, "--seed", 5]
        p = subprocess.Popen([CLI, *map(str, args), "--threads", "1"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        log = ""
        while time.time() < deadline:  # wait for the first progress line: steps are being made
            line = p.stderr.readline()
            log += line
            if "step 1/400" in line or not line:
                break
        # The same job resubmitted while this one trains is refused, not mixed in (two trainings
        # into one -o wrote each other's checkpoint, losses and model, probe58).
        r = run(*args, "--resume", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("another annamosaic training is writing this folder", r.stderr)
        r = run(*args, "--resume", "--dry-run", check=False)  # a dry run before a job says so too
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("another annamosaic training is writing this folder", r.stderr)
        time.sleep(1)
        p.send_signal(signal.SIGTERM)
        log += p.communicate(timeout=300)[1]
        self.assertEqual(p.returncode, 75, log[-2000:])
        self.assertIn("training stopped after step", log)
        with h5py.File(d / "m.train" / "checkpoint.h5", "r") as f:  # saved at the stop, not at step 1000
            stopped_at = int(f["scalars"].attrs["step"])
        self.assertGreater(stopped_at, 0)
        self.assertIn("stopped after step %d of 400" % stopped_at, log)
        # Without --resume the checkpoint is not overwritten; other settings or fewer steps are refused.
        r = run(*args, check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--resume continues it", r.stderr)
        r = run(*args, "--resume", "--lr", "0.001", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, r"lr: 0\.0002\d* -> 0\.001")
        r = run(*args, "--resume", "--validation-samples", 8, check=False)  # the best score was of other samples
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, r"validation-samples: 4 -> 8")
        r = run(*args, "--resume", "--lr", "0.001", "--dry-run", check=False)  # a dry run before a job says so too
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertRegex(r.stderr, r"lr: 0\.0002\d* -> 0\.001")
        self.assertNotIn("rerun to resume", log)  # the stop message says --resume, and only that
        # --steps at the checkpoint's step (a finished training resubmitted): the model is written.
        r = run(*args[:8], stopped_at, *args[9:], "--resume")
        self.assertIn("nothing to train", r.stderr)
        self.assertTrue((d / "m.h5").exists())
        with h5py.File(d / "m.train" / "checkpoint.h5", "r") as f:
            self.assertEqual(int(f["scalars"].attrs["step"]), stopped_at)
        if stopped_at > 1:  # fewer steps than were made: refused
            r = run(*args[:8], stopped_at - 1, *args[9:], "--resume", check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("is at step %d already" % stopped_at, r.stderr)

    def test_a_stop_while_the_data_are_read_exits_75_at_once_having_written_nothing(self):
        # A pre-emption soon after the start: the table (2 million rows, ~1 s to read) is still
        # being read. Before, the training made its first step and saved a checkpoint, then stopped.
        d = TMP / "early-stop"
        d.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(1)
        n = 2_000_000
        a = np.column_stack([rng.integers(1, 5000, n), rng.uniform(0, 6000, n), rng.uniform(0, 6000, n)])
        np.savetxt(d / "big.csv", a, delimiter=",", header="frame,x [nm],y [nm]", comments="", fmt=["%d", "%.1f", "%.1f"])
        p = subprocess.Popen([CLI, "train", "--dataset", str(d / "big.csv"), "-o", str(d / "m.h5"), "--ngf", "4", "--ndf", "4",
                              "--steps", "5", "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        log = p.stderr.readline()  # the device line: the handlers are in place, the data not read yet
        p.send_signal(signal.SIGTERM)
        log += p.communicate(timeout=300)[1]
        self.assertEqual(p.returncode, 75, log[-2000:])
        self.assertIn("training stopped before its first step: nothing was written; the same command starts it", log)
        self.assertFalse((d / "m.train").exists(), sorted(os.listdir(d)))

    def test_resume_refuses_changed_tables_and_accepts_moved_ones(self):
        d = TMP / "resume-data"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(EPFL, d / "a.csv")

        def train(table, steps, *more, check=True):
            return run("train", "--dataset", table, "-o", d / "m.h5", "--ngf", 4, "--ndf", 4, "--steps", steps,
                       "--checkpoint-every", 1, "--validate-every", 0, "--seed", 3, *more, check=check)

        train(d / "a.csv", 1)
        with h5py.File(d / "m.train" / "checkpoint.h5", "r") as f:
            recorded = f["provenance"].attrs["data_tables"]
            recorded = recorded.decode() if isinstance(recorded, bytes) else recorded
        self.assertRegex(recorded, r"^fnv1a64:[0-9a-f]{16} " + str(d / "a.csv") + "\n$")
        # The same table moved (a job resubmitted from another folder): the same data, resumed.
        shutil.move(d / "a.csv", d / "b.csv")
        r = train(d / "b.csv", 2, "--resume")
        self.assertIn("resumed from", r.stderr)
        # Another recipe (augmentation too) is refused by name; a pixel size changed is not also
        # reported as the table changed (its record depends on it).
        r = train(d / "b.csv", 3, "--resume", "--dropout", 0, "--pixel-nm", 40, check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("dropout: 0.5 -> 0", r.stderr)
        self.assertIn("pixel-nm: 20 -> 40", r.stderr)
        self.assertNotIn("changed since the checkpoint's training", r.stderr)
        # One localization fewer: other data, refused by name, the checkpoint kept.
        lines = (d / "b.csv").read_text().splitlines(True)
        (d / "b.csv").write_text("".join(lines[:-1]))
        r = train(d / "b.csv", 3, "--resume", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("table 1: %s changed since the checkpoint's training" % (d / "b.csv"), r.stderr)
        # Another table in its place is named beside the one the checkpoint's latest run read.
        (d / "c.csv").write_text("".join(lines[:-2]))
        r = train(d / "c.csv", 3, "--resume", check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("table 1: %s does not hold what %s held then" % (d / "c.csv", d / "b.csv"), r.stderr)
        with h5py.File(d / "m.train" / "checkpoint.h5", "r") as f:
            self.assertEqual(int(f["scalars"].attrs["step"]), 2)

    def test_a_model_file_is_replaced_only_by_the_training_that_made_it(self):
        d = TMP / "keep"
        d.mkdir(parents=True, exist_ok=True)
        shipped = d / "shipped.h5"
        shutil.copy(MODEL, shipped)
        before = shipped.read_bytes()
        p = run("train", "-o", shipped, "--ngf", 4, "--ndf", 4, "--steps", 1, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("%s: exists and is not this training's model" % shipped, p.stderr)
        self.assertEqual(shipped.read_bytes(), before)
        self.assertFalse((d / "shipped.train").exists())
        # A folder as -o: refused before any step (it used to fail at the final rename).
        p = run("train", "-o", str(d / "newout") + "/", "--ngf", 4, "--ndf", 4, "--steps", 1, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is a folder: give the model's file name", p.stderr)
        self.assertFalse((d / "newout").exists())
        # The dry run checks -o as the training would.
        p = run("train", "-o", shipped, "--ngf", 4, "--dry-run", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("exists and is not this training's model", p.stderr)
        # A folder that takes no new files (a kernel's virtual one) is said as such, not by the
        # "No such file or directory" the system answers.
        p = run("train", "-o", "/proc/m.h5", "--ngf", 4, "--dry-run", check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("/proc: cannot write there (it accepts no new files)", p.stderr)
        # A dry run writes nothing and needs no -o; a real one does.
        self.assertIn("generator G", run("train", "--ngf", 4, "--dry-run").stdout)
        p = run("train", "--ngf", 4, "--steps", 1, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("'--output' (-o MODEL.h5) is required", p.stderr)
        # Values a real run would refuse at its first step, or that train on inputs nobody has, are
        # refused by the dry run already.
        for bad, said in ((["--lowres-target", "foo"], "--lowres-target must be q-of-t or widefield"),
                          (["--source", "foo"], "--source must be auto, simulate or tables"),
                          (["--p-no-widefield", 2], "--p-no-widefield must be in [0, 1]"),
                          (["--p-no-widefield", 1, "--p-no-sparse", 1], "every sample would have neither input"),
                          (["--elastic-px", -1], "--elastic-px must be >= 0"),
                          (["--device", "foo"], "--device must be cpu, auto (a GPU when one is visible), cuda or cuda:N"),
                          # The simulator's settings, as simulate checks its own (0.05:inf hung; the
                          # others trained on impossible or empty samples; probe50).
                          (["--locs-per-label", "0.05:inf"], "--locs-per-label '0.05:inf': expected MIN:MAX, two finite numbers"),
                          (["--locs-per-label", "1:2junk"], "expected MIN:MAX"),
                          (["--sigma-loc-nm", -5], "--sigma-loc-nm must be >= 0"),
                          (["--region-um", 0], "--region-um must be > 0"),
                          (["--photons-per-label", -5], "--photons-per-label must be >= 0"),
                          (["--wf-shift-max-px", -3], "--wf-shift-max-px must be >= 0")):
            p = run("train", "--ngf", 4, "--dry-run", *bad, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(said, p.stderr)

    def test_a_diverged_training_writes_no_model(self):
        # --lr 0.9 blows the generator up to a blank output, which on mostly-background targets
        # would score better than a model that is learning: not kept, and no model written.
        d = TMP / "diverged"
        p = run("train", "-o", d / "m.h5", "--ngf", 4, "--ndf", 4, "--steps", 10, "--lr", 0.9, "--beta1", 0,
                "--validate-every", 5, "--validation-samples", 2, check=False)
        self.assertEqual(p.returncode, 1, p.stderr[-2000:])
        self.assertIn("step 5: the validation score is a blank image's", p.stderr)
        self.assertIn("--lr 0.9: the training diverged: every validation (2) gave a blank or flat output", p.stderr)
        self.assertFalse((d / "m.h5").exists())
        self.assertFalse((d / "m.train" / "best.h5").exists())
        # Resubmitted with --resume at --steps (no step, no validation left): still no model.
        p = run("train", "-o", d / "m.h5", "--ngf", 4, "--ndf", 4, "--steps", 10, "--lr", 0.9, "--beta1", 0,
                "--validate-every", 5, "--validation-samples", 2, "--resume", check=False)
        self.assertEqual(p.returncode, 1, p.stderr[-2000:])
        self.assertIn("the training diverged: every validation (2) gave a blank or flat output", p.stderr)
        self.assertFalse((d / "m.h5").exists())
        # The recipe's learning rate on the same data is not taken for a blank output.
        p = run("train", "-o", d / "ok.h5", "--ngf", 4, "--ndf", 4, "--steps", 10,
                "--validate-every", 5, "--validation-samples", 2, check=False)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertNotIn("blank image's", p.stderr)
        self.assertTrue((d / "ok.h5").exists())

    def test_a_folder_given_as_model_is_an_option_slip_with_the_model_it_holds_named(self):
        # A training's folder (m.train/) for its model: exit 1 like a name that finds no file, with
        # the best model inside named (probe93: exit 3, "is a folder", no hint).
        d = TMP / "model_folder" / "m.train"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(MODEL, d / "best.h5")
        p = run("reconstruct", "--model", d, "--table", DATA / "epfl2013-bundled-tubes-hd-groundtruth.csv",
                "-o", TMP / "model_folder" / "r.tif", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(f"--model {d}: is a folder, not a model file; did you mean {d / 'best.h5'}", p.stderr)

    def test_a_training_blown_up_to_a_flat_output_writes_no_model(self):
        # On these real tables --lr 0.9 drives every output pixel to 1 (white): not blank, so the
        # blank check passed it, and a model of white images was written with exit 0 (probe93).
        d = TMP / "flat"
        tables = [DATA / n for n in ("thunderstorm-3d-export.csv", "epfl2013-bundled-tubes-hd-groundtruth.csv",
                                     "u2os-microtubule-single-lume.csv")]
        p = run("train", *[a for t in tables for a in ("--dataset", t)], "-o", d / "m.h5", "--ngf", 16, "--ndf", 16,
                "--lr", 0.9, "--steps", 20, "--validate-every", 20, "--checkpoint-every", 20, check=False)
        self.assertEqual(p.returncode, 1, p.stderr[-2000:])
        self.assertIn("step 20: the validation outputs are flat (one value everywhere", p.stderr)
        self.assertIn("--lr 0.9: the training diverged: every validation (1) gave a blank or flat output", p.stderr)
        self.assertFalse((d / "m.h5").exists())

    def test_a_best_model_saved_after_the_last_checkpoint_stays_the_best_on_resume(self):
        # best.h5 is saved at each better validation, the checkpoint only every --checkpoint-every
        # steps. A kill between the two left a later best.h5 that the resumed run labelled with the
        # checkpoint's older step (probe43). Made here by hand: best.h5 as if saved at step 7.
        d = TMP / "best-after-ckpt"
        args = ["train", "-o", d / "m.h5", "--ngf", 4, "--ndf", 4, "--validate-every", 5, "--validation-samples", 2,
                "--checkpoint-every", 5, "--seed", 6]
        run(*args, "--steps", 5)
        best = d / "m.train" / "best.h5"
        with h5py.File(best, "r+") as f:
            self.assertEqual(int(f["scalars"].attrs["validation_step"]), 5)
            f["scalars"].attrs["validation_step"] = 7.0
            f["scalars"].attrs["validation_ms_ssim"] = 0.99
        # What a killed training left there goes; a file of the user's named like a temporary stays
        # (--checkpoint-dir may be any folder; probe50).
        dead = subprocess.Popen(["true"])
        dead.wait()
        left = d / "m.train" / f"checkpoint.h5.tmp.{dead.pid}"
        left.write_bytes(b"partial")
        notes = d / "m.train" / "notes.tmp.999999"
        notes.write_text("my notes")
        p = run(*args, "--steps", 10, "--resume")
        self.assertFalse(left.exists())
        self.assertEqual(notes.read_text(), "my notes")
        self.assertIn("(validation MS-SSIM 0.9900 at step 7) was saved after the checkpoint: it stays the best model",
                      p.stderr)
        with h5py.File(d / "m.h5", "r") as f:
            self.assertEqual(f["provenance"].attrs["note"], "best validation score at step 7 of 10")
            self.assertAlmostEqual(float(f["scalars"].attrs["validation_ms_ssim"]), 0.99)

    def test_a_best_model_without_its_checkpoint_is_kept_when_a_training_starts_afresh(self):
        # Its checkpoint deleted (or a training killed before its first checkpoint): --resume has
        # nothing to continue, and the new training's first validation replaced best.h5 (probe).
        d = TMP / "best-alone"
        ck = d / "ck"
        args = ["train", "--checkpoint-dir", ck, "--ngf", 4, "--ndf", 4, "--validate-every", 3, "--validation-samples", 2,
                "--checkpoint-every", 3, "--seed", 8, "--steps", 3]
        run(*args, "-o", d / "m.h5")
        (ck / "checkpoint.h5").unlink()
        before = (ck / "best.h5").read_bytes()
        with h5py.File(ck / "best.h5", "r") as f:
            score = float(f["scalars"].attrs["validation_ms_ssim"])
        p = run(*args, "-o", d / "m2.h5", "--resume")
        kept = sorted(ck.glob("best.earlier-*.h5"))
        self.assertEqual(len(kept), 1, sorted(os.listdir(ck)))
        self.assertEqual(kept[0].read_bytes(), before)
        self.assertEqual(len(list(ck.glob("losses.earlier-*.csv"))), 1, sorted(os.listdir(ck)))
        self.assertIn("best.h5 (validation MS-SSIM %.4f at step 3) is an earlier training's (no checkpoint.h5 beside it to "
                      "resume): kept as %s; this training starts afresh" % (score, kept[0].name), p.stderr)
        self.assertTrue((ck / "best.h5").exists())  # the new training's own

    @unittest.skipUnless(MODEL.exists(), "no shipped model yet")
    def test_fine_tuning_starts_from_a_trained_model(self):
        # Three steps on a real table from the shipped model's G and Q score far above three from
        # fresh weights on the same validation sample (0.94 against 0.45 when written).
        common = ["train", "--dataset", EPFL, "--ngf", 16, "--ndf", 16, "--steps", 3, "--validate-every", 3,
                  "--validation-samples", 1]
        score = lambda p: float(re.search(r"step 3: validation MS-SSIM ([0-9.]+)", p.stderr).group(1))
        tuned = run(*common, "--init-from", MODEL, "-o", TMP / "tuned.h5")
        model_path = os.path.abspath(MODEL)  # recorded as an absolute path
        self.assertIn("fine-tuning: G and Q start from " + model_path + ", D from fresh weights (a model file holds none)",
                      tuned.stderr)
        fresh = run(*common, "-o", TMP / "fresh.h5")
        self.assertGreater(score(tuned), score(fresh) + 0.2, tuned.stderr[-2000:] + fresh.stderr[-2000:])
        def provenance_and_q_steps():
            with h5py.File(TMP / "tuned.h5") as f:
                return f["provenance"].attrs["init_from"], f["scalars"].attrs["lowres_estimator_steps"]
        # Its Q keeps the steps it trained (these tables have no widefield to train it more).
        init_from, q_steps = provenance_and_q_steps()
        self.assertEqual(init_from, model_path)
        self.assertGreater(q_steps, 1000)
        # Resumed, with --init-from left out, then given by its bare name: the record and Q's
        # steps stay (probe101: both were lost); another file is refused.
        run(*common[:8], 4, *common[9:], "-o", TMP / "tuned.h5", "--resume")
        run(*common[:8], 5, *common[9:], "-o", TMP / "tuned.h5", "--resume", "--init-from", MODEL.name)
        self.assertEqual(provenance_and_q_steps(), (init_from, q_steps))
        p = run(*common[:8], 6, *common[9:], "-o", TMP / "tuned.h5", "--resume", "--init-from", TMP / "fresh.h5",
                check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("init-from: " + model_path + " -> " + os.path.abspath(TMP / "fresh.h5"), p.stderr)
        # Another architecture, in --dry-run too, is refused by name before anything is read or written.
        for extra in ([], ["--dry-run"]):
            p = run("train", "--dataset", EPFL, "--init-from", MODEL, "-o", TMP / "wide.h5", *extra, check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(model_path + ": its networks cannot start this training: ngf 16 (this training: 64)", p.stderr)
            self.assertFalse((TMP / "wide.h5").exists())
        p = run("train", "--dataset", EPFL, "--init-from", "nothere.h5", "--ngf", 16, "-o", TMP / "x.h5", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("--init-from nothere.h5: file not found in ", p.stderr)  # named as the option given
        p = run("train", "--dataset", EPFL, "--init-from", EPFL, "--ngf", 16, "-o", TMP / "x.h5", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(str(EPFL), p.stderr)

    def test_bad_option_is_a_usage_error(self):
        p = run("train", "-o", TMP / "x.h5", "--crop-px", 300, "--steps", 1, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("multiple of 256", p.stderr)
        p = run("train", "-o", TMP / "x.h5", "--lr", "-0.1", "--steps", 1, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("--lr must be in (0, 1)", p.stderr)
        # The checkpoints' folder under a file: found by --dry-run, not at the first step.
        blocker = TMP / "afile"
        blocker.write_text("")
        p = run("train", "-o", TMP / "x.h5", "--dry-run", "--checkpoint-dir", blocker / "ck", check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("%s: is not a folder: the checkpoints (--checkpoint-dir %s) cannot go under it" % (blocker, blocker / "ck"),
                      p.stderr)
        for args, said in ((("--validate-every", "-1"), "--validate-every must be >= 0"),
                           (("--log-every-s", "-3"), "--log-every-s must be > 0"),
                           (("--alpha", "0", "--beta", "0", "--gamma", "0"), "the generator has no loss to learn from"),
                           (("--pore-occupancy", "2"), "--pore-occupancy must be in [0, 1]")):  # simulate's checks
            p = run("train", "-o", TMP / "x.h5", "--dry-run", *args, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(said, p.stderr)

    def test_validation_without_a_sparse_image_says_it_has_no_baseline(self):
        # Every sample drawn without S: the histogram baseline each validation line gives is not
        # there, and that is said rather than left out unexplained (probe73).
        d = TMP / "nos"
        run("simulate", "-o", d / "camp", "--rows", 1, "--cols", 1, "--fov-um", 6, "--cell-fraction", 1, "--cell-radius-um", 1000,
            "-q")
        fov = d / "camp" / "fov" / "0000"
        p = run("train", "--dataset", f"{fov / 'locs.csv'},{fov / 'widefield.tif'}", "--steps", 1, "--validate-every", 1,
                "--validation-samples", 1, "--pairs-per-table", 1, "--p-no-sparse", 1, "--ngf", 4, "--ndf", 4, "-o", d / "m.h5")
        self.assertIn("validation: none of its 1 sample(s) has a sparse image S (--p-no-sparse 1 draws every sample without "
                      "one): no histogram baseline to compare the scores with", p.stderr)

    def test_widefield_of_another_field_is_refused(self):
        # An 8 x 8 px widefield (0.9 um) for the 5.9 um EPFL table: not its widefield.
        wf = TMP / "wf8.tif"
        tifffile.imwrite(wf, np.ones((8, 8), np.float32))
        out = TMP / "wfbad" / "m.h5"
        p = run("train", "--source", "tables", "--dataset", f"{EPFL},{wf}", "--steps", 1, "-o", out, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(str(wf), p.stderr)
        self.assertIn("fall outside it", p.stderr)
        self.assertFalse((TMP / "wfbad").exists())  # no empty checkpoint folder left

    def test_own_tables_are_used_checked_and_held_out(self):
        d = TMP / "own"
        d.mkdir(parents=True, exist_ok=True)
        # --dataset alone means table training (it was silently the simulator).
        p = run("train", "--dataset", EPFL, "-o", d / "m.h5", "--dry-run")
        self.assertIn("data: 1 table (", p.stdout)
        self.assertRegex(p.stdout, r"samples 0-7: \d+\.\.\d+ localizations in S \(median \d+\), \d with no S, widefield in 0 of 8")
        # The EPFL table has 361 frames: S windows of 300-500 frames are most of T; say so.
        self.assertIn("1 of the 1 table(s) (training and validation) have fewer than 5,000 frames", p.stderr)
        self.assertIn("361 frames): the sparse windows (300-500 frames) hold up to 100% of such a table", p.stderr)
        self.assertIn("nothing can be held out", p.stderr)
        # Crops larger than the table's field (about 300 x 290 px at 20 nm) are mostly empty: said.
        p = run("train", "--dataset", EPFL, "--crop-px", 512, "--ngf", 4, "--dry-run")
        self.assertRegex(p.stderr, r"1 of the 1 table\(s\) \(training and validation\) have localizations over much less than the 512 px crops "
                                   r"\(smallest: .*, \d+ x \d+ px at 20 nm\).*crops cannot be smaller than 256 px")
        # Said once for many tables, not once per table (three tables: the same one shifted by 1
        # and 2 nm; the same content twice would be trained once, and said).
        locs = np.loadtxt(EPFL, delimiter=",", skiprows=1)
        shifted = []
        for k in (1, 2):
            shifted.append(d / ("epfl+%d.csv" % k))
            np.savetxt(shifted[-1], locs + [0, k, k], delimiter=",", header="frame,x [nm],y [nm]", comments="", fmt="%.3f")
        q = run("train", "--dataset", EPFL, "--dataset", shifted[0], "--dataset", shifted[1], "--dataset", EPFL, "-o",
                d / "m.h5", "--dry-run", "--filaments-per-100um2", 50)
        self.assertIn("%s: given twice: used once" % EPFL, q.stderr)
        self.assertIn("--filaments-per-100um2 apply to --source simulate and are not used with --source tables", q.stderr)
        self.assertEqual(q.stderr.count("fewer than 5,000 frames"), 1, q.stderr)
        self.assertIn("3 of the 3 table(s) (training and validation)", q.stderr)
        p = run("train", "--source", "simulate", "--dataset", EPFL, "-o", d / "m.h5", "--dry-run", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("would be ignored", p.stderr)
        # The model must not be written over its own training table.
        victim = d / "victim.csv"
        shutil.copy(EPFL, victim)
        before = victim.read_bytes()
        p = run("train", "--dataset", victim, "-o", victim, "--steps", 1, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is one of the training inputs", p.stderr)
        self.assertEqual(victim.read_bytes(), before)
        # Three tables or more: validation tables are held out of training (three different ones:
        # EPFL and two copies shifted by 1 and 2 nm).
        tables = []
        for i in range(3):
            tables += ["--dataset", d / f"t{i}.csv"]
            np.savetxt(d / f"t{i}.csv", locs + [0, i, i], delimiter=",", header="frame,x [nm],y [nm]", comments="",
                       fmt="%.5f")
        p = run("train", *tables, "-o", d / "m.h5", "--dry-run")
        self.assertIn("2 for training, 1 held out for validation", p.stdout)
        self.assertIn("1 of the 3 tables held out (not trained on): " + str(d / "t1.csv"), p.stderr)
        # A model scored on a table it was trained on: said (its provenance names the table).
        run("train", "--dataset", d / "t0.csv", "-o", d / "tiny.h5", "--steps", 1, "--ngf", 4, "--ndf", 4,
            "--validation-samples", 0)
        p = run("evaluate", "--model", d / "tiny.h5", "--table", d / "t0.csv", "-o", d / "ev", "--no-frc")
        self.assertIn("%s is one of %s's training tables" % (d / "t0.csv", d / "tiny.h5"), p.stderr)
        self.assertIn("the A-net reconstructs WORSE than its input", p.stdout)  # one step of training
        self.assertIn("(on one of the model's training or validation tables: optimistic)", p.stdout)
        # By content: a copy of t0 is the same data under another name; a table one row shorter
        # is other data.
        shutil.copy(d / "t0.csv", d / "t0-copy.csv")
        p = run("evaluate", "--model", d / "tiny.h5", "--table", d / "t0-copy.csv", "-o", d / "ev1", "--no-frc")
        self.assertIn("%s is one of %s's training tables (the same file)" % (d / "t0-copy.csv", d / "tiny.h5"), p.stderr)
        lines = (d / "t0.csv").read_text().splitlines(True)
        (d / "t0-short.csv").write_text("".join(lines[:-1]))
        p = run("evaluate", "--model", d / "tiny.h5", "--table", d / "t0-short.csv", "-o", d / "ev2", "--no-frc")
        self.assertNotIn("training tables", p.stderr)
        # The table held out for validation is said as such, not as trained on.
        p = run("train", *tables, "-o", d / "three.h5", "--steps", 1, "--ngf", 4, "--ndf", 4, "--validation-samples", 1,
                "--validate-every", 1)
        # The validation score with its baseline: the same samples' sparse histograms against T.
        self.assertRegex(p.stderr, r"validation: 1 samples; the sparse histograms of the 1 with an S score MS-SSIM 0\.\d{4} "
                                   r"against T")
        self.assertRegex(p.stderr, r"step 1: validation MS-SSIM -?\d\.\d{4} \(histogram of S 0\.\d{4}; best")
        # A one-step model is below that baseline: said again at the end, where a job's log is read.
        self.assertRegex(p.stderr, r"the best model \(-?\d\.\d{4} at step 1\) scores below the sparse histograms of its "
                                   r"validation samples \(0\.\d{4}\): it reconstructs worse than its input")
        p = run("evaluate", "--model", d / "three.h5", "--table", d / "t1.csv", "-o", d / "ev3", "--no-frc")
        self.assertIn("was held out of %s's training for validation" % (d / "three.h5"), p.stderr)
        self.assertNotIn("training tables", p.stderr)
        # Its rows shuffled and tab-separated (a re-export, probe96): the same localizations to
        # evaluate, which recognises them ...
        rows = lines[1:]
        np.random.default_rng(3).shuffle(rows)
        (d / "t0-shuffled.tsv").write_text("frame\tx [nm]\ty [nm]\n" + "".join(r.replace(",", "\t") for r in rows))
        p = run("evaluate", "--model", d / "tiny.h5", "--table", d / "t0-shuffled.tsv", "-o", d / "ev4", "--no-frc")
        self.assertIn("%s is one of %s's training tables (the same localizations, in another order or format)"
                      % (d / "t0-shuffled.tsv", d / "tiny.h5"), p.stderr)
        # ... and to training, which trains them once.
        p = run("train", *tables, "--dataset", d / "t0-shuffled.tsv", "-o", d / "m.h5", "--dry-run")
        self.assertIn("%s: the same localizations as %s: used once" % (d / "t0-shuffled.tsv", d / "t0.csv"), p.stderr)
        # A part of the held-out table (of 4 tables, the third) given as a training table:
        # validation would score what the model trains on. Said, with the share.
        t2 = (d / "t2.csv").read_text().splitlines(True)
        (d / "t2-part.csv").write_text("".join(t2[: 1 + (len(t2) - 1) * 2 // 5]))
        p = run("train", *tables, "--dataset", d / "t2-part.csv", "-o", d / "m.h5", "--dry-run")
        self.assertIn("1 of the 4 tables held out (not trained on): " + str(d / "t2.csv"), p.stderr)
        m = re.search(r"validation: (\d+\.\d)% of the localizations of the held-out table (\S+) \(the same frame and "
                      r"position\) are also in the training table (\S+): a copy of it or a part of it", p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertAlmostEqual(float(m.group(1)), 40.0, delta=0.2)
        self.assertEqual((m.group(2), m.group(3)), (str(d / "t2.csv"), str(d / "t2-part.csv")))
        # Too little to learn from: refused under 100 localizations, a sparse target said (probe96:
        # a table of 10 trained a model with exit 0).
        rng = np.random.default_rng(8)
        for name, n in (("ten.csv", 10), ("sparse.csv", 500)):
            np.savetxt(d / name, np.c_[rng.integers(1, 6000, n), rng.uniform(0, 10000, n), rng.uniform(0, 10000, n)],
                       delimiter=",", header="frame,x [nm],y [nm]", comments="", fmt=["%d", "%.2f", "%.2f"])
        p = run("train", "--dataset", d / "ten.csv", "-o", d / "ten.h5", "--steps", 1, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("10 localization(s) in the 1 table(s) to train on, under 100: nothing for the A-net to learn from",
                      p.stderr)
        self.assertFalse((d / "ten.h5").exists())
        p = run("train", "--dataset", d / "sparse.csv", "-o", d / "sparse.h5", "--dry-run")
        self.assertRegex(p.stderr, r"a 256 px crop of T holds about 1\d\d localizations \(the median over the 1 table\(s\)")
        self.assertNotIn("crop of T holds", run("train", "--dataset", EPFL, "-o", d / "m.h5", "--dry-run").stderr)
        # Tables shifted by 1 nm are other localizations: no such warning above.
        self.assertNotIn("are also in the training table", run("train", *tables, "-o", d / "m.h5", "--dry-run").stderr)


@unittest.skipUnless(MODEL.exists(), "no shipped model yet")
class Reconstruct(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A widefield for the EPFL table: its dense image blurred by a PSF and binned to 108 nm.
        cls.d = TMP / "reconstruct"
        cls.d.mkdir(parents=True, exist_ok=True)
        locs = np.loadtxt(EPFL, delimiter=",", skiprows=1)
        w = int(np.ceil(locs[:, 1].max() / 108.0)) + 1
        h = int(np.ceil(locs[:, 2].max() / 108.0)) + 1
        img, _, _ = np.histogram2d(locs[:, 2], locs[:, 1], bins=(h, w), range=((0, h * 108.0), (0, w * 108.0)))
        wf = ndimage.gaussian_filter(img, 0.9) * 5 + 100
        cls.wf_shape = (h, w)
        tifffile.imwrite(cls.d / "wf.tif", wf.astype(np.float32))

    def test_a_sparse_image_of_a_sub_field_reads_the_widefield_from_where_it_starts(self):
        # A render of part of the field (field-nm 1620,1080,...: 15 and 10 camera px in) with the
        # whole camera field's widefield: taken from the camera's corner, the widefield lay further
        # off than registration searches (confidence 0.02, probe51).
        sub = self.d / "sub.tif"
        run("render", EPFL, "--pixel-nm", 20, "--field-nm", "1620,1080,6000,6000", "-o", sub, "--no-preview")
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "sub-r.tif", "--sparse", sub, "--widefield", self.d / "wf.tif",
                "--widefield-frames", "1", "--no-preview")
        self.assertIn("the widefield is read from camera pixel (15, 10) on", p.stderr)
        confidence = float(re.search(r"widefield registered to the sparse image: shift \(([-\d.]+), ([-\d.]+)\) camera px, "
                                     r"confidence ([\d.]+)", p.stderr).group(3))
        self.assertGreater(confidence, 0.3, p.stderr)
        self.assertNotIn("matches the sparse image poorly", p.stderr)
        # Without --model: run's default, the shipped model, said as such.
        p = run("reconstruct", "-o", self.d / "sub-d.tif", "--sparse", sub, "--no-preview")
        self.assertRegex(p.stderr, r"model \S*anet-microtubules-ngf16\.h5 \(the default, as run's: --model names another\)")

    def test_three_modes(self):
        sr_shape = None
        for mode, extra in (("both", ["--table", EPFL, "--frames", "first:36", "--widefield", self.d / "wf.tif"]),
                            ("sparse", ["--table", EPFL, "--frames", "first:36"]),
                            ("wfonly", ["--widefield", self.d / "wf.tif"])):
            out = self.d / (mode + ".tif")
            run("reconstruct", "--model", MODEL, "-o", out, "--widefield-frames", "1", *extra)
            a = tifffile.imread(out)
            self.assertEqual(a.dtype, np.float32)
            self.assertTrue(0 <= a.min() and a.max() <= 1)
            q = tifffile.imread(self.d / (mode + ".q.tif"))
            self.assertEqual(q.shape, tuple((s + 3) // 4 for s in a.shape))
            has_wf = mode != "sparse"
            self.assertEqual((self.d / (mode + ".error.tif")).exists(), has_wf)
            if has_wf:
                self.assertEqual(tifffile.imread(self.d / (mode + ".error.tif")).shape, q.shape)
                self.assertEqual(tifffile.imread(self.d / (mode + ".widefield.tif")).shape, a.shape)
            if mode == "both":
                sr_shape = a.shape  # the camera field at 20 nm
                self.assertEqual(sr_shape, tuple(int(np.ceil(s * 108 / 20 - 1e-9)) for s in self.wf_shape))
            if mode == "wfonly":
                self.assertEqual(a.shape, sr_shape)

    def test_an_empty_table_and_an_earlier_results_files(self):
        empty = self.d / "header-only.csv"
        empty.write_text("frame,x [nm],y [nm]\n")
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "e.tif", "--table", empty, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("header-only.csv: the table has no localizations: nothing to reconstruct", p.stderr)
        # With a widefield: the widefield-only reconstruction, said.
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "e.tif", "--table", empty,
                "--widefield", self.d / "wf.tif", "--widefield-frames", "1")
        self.assertIn("the table has no localizations: reconstructing from the widefield alone", p.stderr)
        self.assertTrue((self.d / "e.error.tif").exists())
        # The same name again without the widefield: the first one's error map and widefield go.
        run("reconstruct", "--model", MODEL, "-o", self.d / "e.tif", "--table", EPFL, "--frames", "first:36")
        for gone in ("e.error.tif", "e.error.png", "e.widefield.tif", "e.widefield-q.tif"):
            self.assertFalse((self.d / gone).exists(), gone)
        self.assertTrue((self.d / "e.sparse.tif").exists())
        # Where the image lies in the table's coordinates, as render records it.
        desc = tifffile.TiffFile(self.d / "e.tif").pages[0].description
        self.assertRegex(desc, r"field-nm = [0-9.]+,[0-9.]+,[0-9.]+,[0-9.]+ \(x0,y0,width,height")
        # So do its companions, on their own grids (probe45: only OUT.tif said it), with the origin
        # Fiji reads; and a reconstruct of the echoed sparse image keeps the place.
        x0_nm = float(re.search(r"field-nm = ([-\d.e+]+),", desc).group(1))
        for name, px in (("e.tif", 20), ("e.sparse.tif", 20), ("e.q.tif", 80)):
            with tifffile.TiffFile(self.d / name) as t:
                self.assertIn(desc[desc.index("field-nm = "):].split(" (")[0], t.pages[0].description, name)
                self.assertAlmostEqual(t.imagej_metadata["xorigin"], -x0_nm / px, places=4, msg=name)
        run("reconstruct", "--model", MODEL, "-o", self.d / "again.tif", "--sparse", self.d / "e.sparse.tif")
        self.assertIn(desc[desc.index("field-nm = "):].split(" (")[0],
                      tifffile.TiffFile(self.d / "again.tif").pages[0].description)
        self.assertIn("# field reconstructed: field-nm = ", (self.d / "e.config.ini").read_text())
        # What a reconstruct killed while writing left (its process is gone) goes with the next one.
        dead = subprocess.Popen(["true"])
        dead.wait()
        leftover = self.d / f"e.q.tif.tmp.{dead.pid}"
        leftover.write_bytes(bytes(1000))
        # A frame window with nothing in it is refused before the A-net runs (the table: frames 1-361).
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "e.tif", "--table", EPFL, "--frames", "5000:6000", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no localization falls in the frame window --frames 5000:6000 (the table's frames: 1 to 361): nothing to "
                      "reconstruct", p.stderr)
        self.assertTrue((self.d / "e.tif").exists())  # a refused run leaves the earlier results
        # --frames counts from the first camera frame, which --frame-base numbers as render's does: the
        # table starts at frame 1, so under a base of 0 the window 0:1 is frame 0, which holds nothing.
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "e.tif", "--table", EPFL, "--frames", "0:1", "--frame-base",
                "0", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no localization falls in the frame window --frames 0:1", p.stderr)
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "e.tif", "--table", EPFL, "--frame-base", "2", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("--frame-base must be 0 or 1", p.stderr)
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "e.tif", "--table", EPFL, "--frames", "first:36", "--format",
                "png", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertNotIn("A-net (", p.stderr)  # refused before the network ran
        run("reconstruct", "--model", MODEL, "-o", self.d / "e.tif", "--table", EPFL, "--frames", "first:36")
        self.assertFalse(leftover.exists())

    def test_a_widefield_the_table_does_not_fit_in_is_refused(self):
        # 8 x 8 camera px (0.9 um) for the 5.9 um EPFL table: rendering on that field would drop
        # most localizations without a word.
        tifffile.imwrite(self.d / "wf8.tif", np.full((8, 8), 100, np.float32))
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "small.tif", "--table", EPFL,
                "--widefield", self.d / "wf8.tif", "--widefield-frames", 1, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("%s: covers 0.9 x 0.9 um" % (self.d / "wf8.tif"), p.stderr)
        self.assertIn("fall outside it", p.stderr)
        # Flat, it has no structure either; that warning promised a reconstruction that was then refused (probe78).
        self.assertNotIn("reconstructing from the localizations alone", p.stderr)
        self.assertFalse((self.d / "small.tif").exists())
        # Another field's widefield of the right size: used, but said (as run flags it in QC).
        h, w = self.wf_shape
        lines = np.zeros((h, w))
        rng = np.random.default_rng(3)
        for _ in range(6):  # six filaments elsewhere
            x0, y0, x1, y1 = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, h)
            t = np.linspace(0, 1, 400)
            lines[(y0 + (y1 - y0) * t).astype(int).clip(0, h - 1), (x0 + (x1 - x0) * t).astype(int).clip(0, w - 1)] += 50
        tifffile.imwrite(self.d / "other.tif", (ndimage.gaussian_filter(lines, 0.9) * 5 + 100).astype(np.float32))
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "other-out.tif", "--table", EPFL,
                "--widefield", self.d / "other.tif", "--widefield-frames", 1, "--no-preview")
        self.assertIn("matches the sparse image poorly", p.stderr)

    def test_a_widefield_left_out_does_not_set_the_field_and_a_small_table_in_a_large_one_is_said(self):
        # A 216 um widefield of noise: left out (no structure), so the image is the table's
        # 262 x 250 px as without it (it was the camera field's 10800 x 10800 px, probe95).
        rng = np.random.default_rng(5)
        tifffile.imwrite(self.d / "noise.tif", rng.normal(100, 5, (2000, 2000)).astype(np.float32))
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "noise-out.tif", "--table", EPFL, "--frames", "first:36",
                "--widefield", self.d / "noise.tif", "--no-preview")
        self.assertIn("shows no structure above its noise", p.stderr)
        self.assertIn("A-net (sparse only): 262 x 250 px", p.stderr)
        self.assertEqual(tifffile.imread(self.d / "noise-out.tif").shape, (250, 262))
        # A far outlier beside that widefield (which placed the table before) is left out of the
        # field and said, not refused with "give its --widefield" (it was given).
        with open(EPFL) as fh:
            text = fh.read()
        (self.d / "outlier.csv").write_text(text + "5,900000.0,3000.0\n")
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "outlier-out.tif", "--table", self.d / "outlier.csv",
                "--frames", "first:36", "--widefield", self.d / "noise.tif", "--no-preview")
        self.assertLess(p.stderr.index("shows no structure above its noise"), p.stderr.index("lie far outside the others"))
        self.assertIn("The image is fitted to the others and leaves them out", p.stderr)
        self.assertEqual(tifffile.imread(self.d / "outlier-out.tif").shape, (250, 262))
        # The table's widefield in a corner of a 4 x 4 times larger camera field: used, the whole
        # field reconstructed, and said.
        h, w = self.wf_shape
        big = np.full((4 * h, 4 * w), 100, np.float32)
        big[:h, :w] = tifffile.imread(self.d / "wf.tif")
        tifffile.imwrite(self.d / "big.tif", big)
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "big-out.tif", "--table", EPFL, "--frames", "first:36",
                "--widefield", self.d / "big.tif", "--no-preview")
        self.assertRegex(p.stderr, r"its localizations cover 5\.\d x 5\.\d um, [4-7]% of the widefield's 2\d\.\d x 2\d\.\d um "
                                   r"camera field, which is what is reconstructed")

    def test_a_long_acquisition_given_whole_is_said_denser_than_trained_on(self):
        # The EPFL table's 361 frames spread over 7220: all of them as S is no sparse input
        # (probe96: 5,000 frames reconstructed unsaid); a window of 500 is.
        locs = np.loadtxt(EPFL, delimiter=",", skiprows=1)
        locs[:, 0] *= 20
        np.savetxt(self.d / "long.csv", locs, delimiter=",", header="frame,x [nm],y [nm]", comments="",
                   fmt=["%d", "%.5f", "%.5f"])
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "long.tif", "--table", self.d / "long.csv", "--no-preview")
        self.assertIn("long.csv: the sparse image takes 7220 frames (--frames all); the A-net was trained on sparse images "
                      "of a few hundred frames", p.stderr)
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "long500.tif", "--table", self.d / "long.csv",
                "--frames", "first:500", "--no-preview")
        self.assertNotIn("the sparse image takes", p.stderr)

    def test_camera_pixel_sets_the_widefield_grid(self):
        # The same widefield read as 100 nm pixels: a field of wf_shape * 100 nm at the model's 20 nm.
        out = self.d / "cam100.tif"
        run("reconstruct", "--model", MODEL, "-o", out, "--widefield", self.d / "wf.tif", "--widefield-frames", "1",
            "--camera-pixel-nm", 100, "--no-preview")
        self.assertEqual(tifffile.imread(out).shape, tuple(int(np.ceil(s * 100 / 20 - 1e-9)) for s in self.wf_shape))

    def test_uint16_scaling(self):
        f32 = self.d / "f.tif"
        u16 = self.d / "u.tif"
        args = ["--table", EPFL, "--frames", "first:36", "--no-preview"]
        run("reconstruct", "--model", MODEL, "-o", f32, *args)
        run("reconstruct", "--model", MODEL, "-o", u16, "--format", "uint16", "--device", "auto", *args)  # auto: CPU here
        a, b = tifffile.imread(f32), tifffile.imread(u16)
        self.assertEqual(b.dtype, np.uint16)
        self.assertLessEqual(np.abs(b / 65535.0 - a).max(), 0.5 / 65535 + 1e-6)

    def test_tiled_and_whole_agree(self):
        args = ["--table", EPFL, "--no-preview"]
        run("reconstruct", "--model", MODEL, "-o", self.d / "whole.tif", "--mode", "whole", *args)
        run("reconstruct", "--model", MODEL, "-o", self.d / "tiled.tif", "--mode", "tiled", "--tile-px", 256,
            "--overlap-px", 64, *args)
        a, b = tifffile.imread(self.d / "whole.tif"), tifffile.imread(self.d / "tiled.tif")
        print("EPFL table, tiles of 256 px vs whole: max |diff| = %.4f, mean |diff| = %.5f" % (
            np.abs(a - b).max(), np.abs(a - b).mean()))
        self.assertLess(np.abs(a - b).mean(), 0.05)
        # A memory cap too small for the whole FoV tiles it on its own (--anet-memory-mb as in `run`).
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "capped.tif", "--anet-memory-mb", 1, "--tile-px", 256,
                "--overlap-px", 64, *args)
        self.assertIn("2 tiles", p.stdout + p.stderr)
        np.testing.assert_array_equal(tifffile.imread(self.d / "capped.tif"), b)
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "x.tif", "--anet-memory-mb", 1, "--memory-budget-mb", 1,
                *args, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("old name of --anet-memory-mb", p.stderr)

    def test_sparse_image_at_another_pixel_size_is_refused(self):
        p40 = self.d / "p40.tif"
        run("render", EPFL, "--pixel-nm", 40, "-o", p40, "--no-preview")
        p = run("reconstruct", "--model", MODEL, "--sparse", p40, "-o", self.d / "p40-anet.tif", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(str(p40), p.stderr)
        self.assertIn("40 nm pixels", p.stderr)
        self.assertIn("trained at 20 nm", p.stderr)

    def test_nan_pixels_are_repaired_and_a_stacked_or_empty_sparse_image_is_said(self):
        # One NaN in a float widefield or sparse image made every output pixel NaN, exit 0, unsaid.
        wf = tifffile.imread(self.d / "wf.tif")
        wf[5, 7], wf[9, 2] = np.nan, np.inf
        tifffile.imwrite(self.d / "wf-nan.tif", wf)
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "n.tif", "--table", EPFL, "--frames", "first:36",
                "--widefield", self.d / "wf-nan.tif", "--widefield-frames", "1", "--no-preview")
        self.assertIn("wf-nan.tif: 2 of %d pixels are NaN or infinite: set to the median of the others" % wf.size, p.stderr)
        for name in ("n.tif", "n.error.tif", "n.widefield.tif"):
            self.assertTrue(np.isfinite(tifffile.imread(self.d / name)).all(), name)
        sparse = self.d / "s.tif"
        run("render", EPFL, "--frames", "first:36", "-o", sparse, "--no-preview")
        s = tifffile.imread(sparse).astype(np.float32)
        s[0, 0] = np.nan
        tifffile.imwrite(self.d / "s-nan.tif", s, resolution=(1e7 / 20, 1e7 / 20), resolutionunit="CENTIMETER")
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "sn.tif", "--sparse", self.d / "s-nan.tif", "--no-preview")
        self.assertIn("s-nan.tif: 1 of %d pixels are NaN or infinite" % s.size, p.stderr)
        self.assertTrue(np.isfinite(tifffile.imread(self.d / "sn.tif")).all())
        # A stack: its first page is read, and said; a first page of zeros is no sparse image.
        tifffile.imwrite(self.d / "stack.tif", np.stack([np.zeros_like(s), np.nan_to_num(s)]))
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "st.tif", "--sparse", self.d / "stack.tif", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("stack.tif: 2 pages; the first alone is the sparse image", p.stderr)
        self.assertIn("stack.tif: every pixel is 0: no localizations, nothing to reconstruct", p.stderr)
        self.assertFalse((self.d / "st.tif").exists())
        # A few pixels are no field (a 3 x 3 image was "reconstructed"); negative counts are said (probe73).
        tifffile.imwrite(self.d / "tiny.tif", np.ones((3, 3), np.float32))
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "tiny-r.tif", "--sparse", self.d / "tiny.tif", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("tiny.tif: 3 x 3 px: too small to be a sparse image of a field", p.stderr)
        neg = np.nan_to_num(s)
        neg[:4, :4] = -5
        tifffile.imwrite(self.d / "s-neg.tif", neg, resolution=(1e7 / 20, 1e7 / 20), resolutionunit="CENTIMETER")
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "sneg.tif", "--sparse", self.d / "s-neg.tif", "--no-preview")
        self.assertIn("s-neg.tif: 16 of its %d pixels are negative (down to -5): a sparse image holds counts" % s.size, p.stderr)

    def test_bad_model_file(self):
        bad = self.d / "bad.h5"
        bad.write_text("not a model\n")
        p = run("reconstruct", "--model", bad, "-o", self.d / "x.tif", "--table", EPFL, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(str(bad), p.stderr)
        self.assertIn("not an HDF5 file", p.stderr)

    def test_a_switch_id_the_model_never_learned_is_refused(self):
        # The shipped model knows microtubules (switch 0): with switch 1 its untrained switch
        # weights would shift every encoder level.
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "sw.tif", "--table", EPFL, "--switch", 1, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("was trained with switch id 0 only", p.stderr)
        self.assertFalse((self.d / "sw.tif").exists())
        # A campaign of another structure: refused before the run makes its folder.
        camp = self.d / "pores"
        run("simulate", "-o", camp, "--rows", 1, "--cols", 1, "--fov-um", 5, "--frames", 200, "--structure",
            "nuclear-pores", "-q")
        p = run("run", "--campaign", camp, "-o", self.d / "pores-out", "--model", MODEL, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)  # the campaign and the model do not go together: bad input
        self.assertIn("%s/campaign.ini: " % camp, p.stderr)
        self.assertIn("with switch 1 it would add weights that never learned anything", p.stderr)
        self.assertIn("or campaign.ini's switch-id = 0 if the data are of the structure it knows", p.stderr)
        self.assertFalse((self.d / "pores-out").exists())
        # status says so too (submit-campaign.sh asks it before submitting the job).
        cfg = self.d / "pores.ini"
        cfg.write_text("[run]\ncampaign = %s\noutput = %s\nmodel = %s\n" % (camp, self.d / "pores-out", MODEL))
        p = run("status", cfg, check=False)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("it cannot run: ", p.stdout)
        self.assertIn("anet-microtubules-ngf16.h5 was trained with switch id 0 only", p.stdout)
        # evaluate on simulated nuclear pores too.
        p = run("evaluate", "--model", MODEL, "-o", self.d / "ev", "--structure", "nuclear-pores", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("switch id 0 only", p.stderr)

    def test_an_imagej_hyperstack_of_channels_is_refused_not_averaged(self):
        wf = tifffile.imread(self.d / "wf.tif")
        tifffile.imwrite(self.d / "hyper.tif", np.stack([np.stack([wf, wf * 0 + 100])] * 3).astype(np.float32), imagej=True,
                         metadata={"axes": "TCYX"})
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "h.tif", "--table", EPFL, "--widefield", self.d / "hyper.tif",
                check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("hyper.tif: an ImageJ hyperstack of 2 channels, interleaved page by page: averaging pages 3-5", p.stderr)
        # One page is one channel: read as asked.
        run("reconstruct", "--model", MODEL, "-o", self.d / "h.tif", "--table", EPFL, "--widefield", self.d / "hyper.tif",
            "--widefield-frames", "3", "--no-preview")

    def test_model_with_a_nan_weight_is_refused(self):
        # Every output would be NaN (and a run would record NaN scores for every FoV).
        bad = self.d / "nan-weight.h5"
        shutil.copy(MODEL, bad)
        with h5py.File(bad, "r+") as f:
            names = []
            f["generator"].visit(lambda n: names.append(n) if isinstance(f["generator"][n], h5py.Dataset) else None)
            w = f["generator"][names[0]]
            a = w[()]
            a.flat[3] = np.nan
            w[...] = a
        p = run("reconstruct", "--model", bad, "-o", self.d / "x.tif", "--table", EPFL, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("non-finite value (nan at element 3)", p.stderr)
        self.assertFalse((self.d / "x.tif").exists())

    def test_a_field_far_past_the_memory_here_is_refused_before_the_work(self):
        # The field is the camera's with a widefield (2000 px at 1000 nm: 100,000^2 px at 20 nm),
        # the table's extent without one (two rows 1e10 nm apart): bad_alloc, minutes in, before.
        # (With structure, so that it is used: a widefield left out sets no field.)
        wf = self.d / "wide.tif"
        img = np.full((2000, 2000), 100, np.uint16)
        img[100:300, 100:300] = 1000
        tifffile.imwrite(wf, img)
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "big.tif", "--table", EPFL, "--widefield", wf,
                "--camera-pixel-nm", 1000, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(str(wf) + ": a field of 100000 x 100000 px (2000 x 2000 um at 20 nm) needs at least", p.stderr)
        table = self.d / "far.csv"
        table.write_text("frame,x [nm],y [nm]\n1,0,0\n2,1e10,0\n")
        p = run("reconstruct", "--model", MODEL, "-o", self.d / "big.tif", "--table", table, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("needs at least", p.stderr)
        self.assertFalse((self.d / "big.tif").exists())

    def test_model_attributes_out_of_range_are_refused_before_the_network_is_built(self):
        # ngf 100000 made LibTorch try to allocate 1.3 TB (an internal error with a stack trace);
        # a pixel_nm of 0 failed later as an internal error that named no file.
        for attr, value, said in (("ngf", 100000, "architecture attributes out of range (ngf 100000"),
                                  ("pixel_nm", 0.0, "pixel_nm 0 is not a super-resolution pixel"),
                                  ("pixel_nm", float("nan"), "pixel_nm nan is not a super-resolution pixel"),
                                  # dropout 7 failed inside LibTorch at the first FoV (probe43).
                                  ("dropout", 7.0, "dropout 7, target_quantile 0.999 out of range"),
                                  ("target_quantile", float("nan"), "target_quantile nan out of range")):
            bad = self.d / ("bad-%s.h5" % attr)
            shutil.copy(MODEL, bad)
            with h5py.File(bad, "r+") as f:
                f.attrs[attr] = np.array(value, dtype=f.attrs[attr].dtype)
            p = run("reconstruct", "--model", bad, "-o", self.d / "x.tif", "--table", EPFL, check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(str(bad), p.stderr)
            self.assertIn(said, p.stderr)
            self.assertNotIn("internal error", p.stderr)


@unittest.skipUnless(MODEL.exists(), "no shipped model yet")
class Evaluate(unittest.TestCase):
    def test_sizes_past_any_acquisition_are_refused_at_once(self):
        # --n 1e12 ran silently for hours; --field-px 100000 ended in bad_alloc.
        for args, said in ((["--n", "1000,1e12"], "--n: at most 1e7 localizations per field, not 1e12"),
                           (["--field-px", "100000"], "--field-px must be"),
                           # An empty specimen scored as perfect; a negative camera pixel was an
                           # internal error (probe50).
                           (["--filaments-per-100um2", "-5"], "--filaments-per-100um2 must be > 0"),
                           (["--camera-pixel-nm", "-108"], "--camera-pixel-nm must be > 0"),
                           (["--camera-pixel-nm", "108000"], "or is the value in pm (108000 pm is 108 nm)?")):
            p = run("evaluate", "--model", MODEL, "-o", TMP / "eval-refused", *args, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(said, p.stderr)
        self.assertFalse((TMP / "eval-refused").exists())
        # A table whose extent makes a field far past the memory here (two rows 1e10 nm apart,
        # too few to tell an outlier): refused before the work, as reconstruct does.
        table = TMP / "eval-far.csv"
        table.write_text("frame,x [nm],y [nm]\n1,0,0\n2,1e10,0\n")
        p = run("evaluate", "--model", MODEL, "-o", TMP / "eval-refused", "--table", table, "--no-frc", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(str(table) + ": a field of 500000001 x 1 px", p.stderr)
        self.assertIn("needs at least", p.stderr)

    def test_simulated_small(self):
        d = TMP / "eval"
        run("evaluate", "--model", MODEL, "-o", d, "--fields", 1, "--field-px", 256, "--n", "1000,30000", "--no-frc")
        with open(d / "evaluate.csv") as f:
            text = f.read()
        self.assertIn("; 1 field of 5.12 um;", text.splitlines()[0])
        rows = [r for r in csv.reader(l for l in text.splitlines() if not l.startswith("#"))]
        self.assertEqual([r[11:14] for r in rows[1:]], [["", "", ""]] * 2)  # --no-frc: empty, not 0
        self.assertEqual(rows[0][:5], ["n", "locs_per_um2", "hist_msssim", "anet_s_msssim", "anet_sw_msssim"])
        self.assertEqual(len(rows), 3)
        hist = [float(r[2]) for r in rows[1:]]
        self.assertLess(hist[0], hist[1])  # more localizations, better histogram
        self.assertEqual((d / "evaluate.png").read_bytes()[:4], b"\x89PNG")

    def test_table(self):
        d = TMP / "eval_table"
        p = run("evaluate", "--model", MODEL, "-o", d, "--table", EPFL, "--fields", 2)
        self.assertIn("A-net", p.stdout)
        self.assertIn("--fields belongs to the simulated protocol and is not used with --table", p.stderr)
        # The default device, said as what it found.
        self.assertRegex(p.stdout + p.stderr, r"--device auto: the A-net runs on (the CPU|cuda:0)")
        with open(d / "evaluate-table.csv") as f:
            rows = list(csv.reader(l for l in f if not l.startswith("#")))
        self.assertEqual(rows[0], ["image", "msssim", "ssim", "psnr", "frc_nm"])
        # The EPFL table's two halves of all frames correlate above 1/7 up to Nyquist: 2 pixels is a
        # bound, marked as one (a bare 40.0 read as a measured resolution); the sparse one crosses.
        frc = {r[0]: r[4] for r in rows[1:]}
        self.assertEqual(frc["dense_reference"], "<=40.0")
        self.assertGreater(float(frc["histogram"]), 40.0)
        self.assertIn("<=40.0", p.stdout)
        self.assertIn('FRC "<=": the correlation stayed above 1/7 up to Nyquist', p.stdout)
        # The scores' meaning in one line, from the same numbers as the CSV (probe96: none).
        ms = {r[0]: float(r[1]) for r in rows[1:]}
        m = re.search(r"verdict: the A-net's image of the first \d+ frames scores MS-SSIM (-?\d\.\d{4}) against all frames, "
                      r"the plain histogram of the same frames (\d\.\d{4}): (.*)", p.stdout)
        self.assertTrue(m, p.stdout)
        self.assertAlmostEqual(float(m.group(1)), ms["anet"], places=4)
        self.assertAlmostEqual(float(m.group(2)), ms["histogram"], places=4)
        gain = ms["anet"] - ms["histogram"]
        self.assertEqual(m.group(3).startswith("the A-net reconstructs better"), gain > 0.01, m.group(0))
        self.assertEqual(m.group(3).startswith("the A-net reconstructs WORSE"), gain < -0.01, m.group(0))
        self.assertEqual(tifffile.imread(d / "anet.tif").shape, tifffile.imread(d / "dense.tif").shape)
        # Where the images lie in the table's coordinates, as render says it: the same field rendered
        # by `render --field-nm` is the reference image itself.
        with tifffile.TiffFile(d / "dense.tif") as t:
            described = t.pages[0].description
        field = re.search(r"field-nm = ([-\d.e+]+,[-\d.e+]+,[-\d.e+]+,[-\d.e+]+)", described).group(1)
        run("render", EPFL, "-o", d / "again.tif", "--field-nm", field)
        np.testing.assert_array_equal(tifffile.imread(d / "again.tif").astype(np.float64),
                                      tifffile.imread(d / "dense.tif").astype(np.float64))
        # The simulated protocol into the same folder would mix two evaluations: refused.
        p = run("evaluate", "--model", MODEL, "-o", d, "--fields", 1, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("holds a --table evaluation (" + str(d) + "/evaluate-table.csv): give this one another -o", p.stderr)

    def test_what_cannot_be_scored_is_refused_and_no_frc_leaves_cells_empty(self):
        d = TMP / "eval_refusals"
        d.mkdir(parents=True, exist_ok=True)
        with open(EPFL) as f:
            lines = f.read().splitlines()
        # Frames from 100 on only: the first 10% of the frame range (36 frames) holds none.
        late = d / "late.csv"
        late.write_text("\n".join([lines[0]] + [l for l in lines[1:] if int(l.split(",")[0]) > 100]) + "\n")
        p = run("evaluate", "--model", MODEL, "-o", d / "late", "--table", late, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("no localization in the sparse window", p.stderr)
        # A run's output folder or a campaign folder is no place for the evaluation's images.
        (d / "a-run").mkdir(exist_ok=True)
        (d / "a-run" / "manifest.jsonl").write_text("")
        p = run("evaluate", "--model", MODEL, "-o", d / "a-run", "--table", EPFL, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("is a run's output folder (it has a manifest.jsonl)", p.stderr)
        self.assertEqual(os.listdir(d / "a-run"), ["manifest.jsonl"])
        # A corner of the table: too small for MS-SSIM's scales.
        small = d / "small.csv"
        small.write_text("\n".join([lines[0]] + [l for l in lines[1:] if float(l.split(",")[1]) < 2000
                                                   and float(l.split(",")[2]) < 2000]) + "\n")
        p = run("evaluate", "--model", MODEL, "-o", d / "small", "--table", small, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("MS-SSIM needs at least 176 px", p.stderr)
        # A bad A-net option is a usage error, as in reconstruct.
        p = run("evaluate", "--model", MODEL, "-o", d / "x", "--table", EPFL, "--mode", "tiled", "--tile-px", 100, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        # --no-frc: no FRC computed, its cells empty (0 would read as a resolution).
        run("evaluate", "--model", MODEL, "-o", d / "nofrc", "--table", EPFL, "--no-frc")
        with open(d / "nofrc" / "evaluate-table.csv") as f:
            rows = {r[0]: r[1:] for r in csv.reader(l for l in f if not l.startswith("#"))}
        self.assertEqual([rows[k][3] for k in ("histogram", "anet", "dense_reference")], ["", "", ""])

    def test_a_field_padded_for_the_network_reconstructs_as_in_tiles(self):
        # A 551 px FoV with its widefield, padded to 768 px for a whole pass: zeros there ("no
        # light") beside the widefield's background made the A-net invent filaments over the whole
        # FoV (MS-SSIM 0.60 against 0.94 in tiles). Mirrored padding: the two agree.
        d = TMP / "eval_padded"
        run("simulate", "--rows", 1, "--cols", 1, "--fov-um", 11, "--frames", 4000, "--seed", 5, "--cell-radius-um", 1000,
            "--cell-fraction", 1, "--gradient", 0, "--filaments-per-100um2", 20, "-o", d / "campaign", "-q")
        scores = {}
        for mode in ("whole", "tiled"):
            run("evaluate", "--model", MODEL, "-o", d / mode, "--table", d / "campaign/fov/0000/locs.csv", "--widefield",
                d / "campaign/fov/0000/widefield.tif", "--mode", mode, "--no-frc")
            with open(d / mode / "evaluate-table.csv") as f:
                rows = {r[0]: r[1:] for r in csv.reader(l for l in f if not l.startswith("#"))}
            scores[mode] = float(rows["anet_widefield"][0])
        print("551 px FoV with its widefield, A-net+wf MS-SSIM: whole (padded) %.4f, tiled %.4f" % (scores["whole"], scores["tiled"]))
        self.assertGreater(scores["whole"], scores["tiled"] - 0.03)
        # Its widefield cropped by a sixth on the right: the localizations beyond it are not scored,
        # and that is said with their count (probe73: 15% dropped went unsaid).
        wf = tifffile.imread(d / "campaign/fov/0000/widefield.tif")
        tifffile.imwrite(d / "cropped.tif", np.ascontiguousarray(wf[..., : wf.shape[-1] * 5 // 6]))
        p = run("evaluate", "--model", MODEL, "-o", d / "cropped", "--table", d / "campaign/fov/0000/locs.csv", "--widefield",
                d / "cropped.tif", "--no-frc")
        self.assertRegex(p.stderr, r"locs\.csv: \d+ of \d+ localizations \(1\d\.\d%\) lie outside the widefield's field .* and are "
                                   r"not scored: a widefield cropped smaller than the table's field\?")

    def test_table_with_its_widefield(self):
        # A widefield made from the EPFL table itself (all frames binned to 108 nm and blurred by a
        # PSF): the table lies in its camera frame, as a real acquisition's does.
        d = TMP / "eval_table_wf"
        d.mkdir(parents=True, exist_ok=True)
        locs = np.loadtxt(EPFL, delimiter=",", skiprows=1)
        w, h = int(np.ceil(locs[:, 1].max() / 108.0)) + 1, int(np.ceil(locs[:, 2].max() / 108.0)) + 1
        img, _, _ = np.histogram2d(locs[:, 2], locs[:, 1], bins=(h, w), range=((0, h * 108.0), (0, w * 108.0)))
        tifffile.imwrite(d / "wf.tif", (ndimage.gaussian_filter(img, 0.9) * 5 + 100).astype(np.float32))
        out = run("evaluate", "--model", MODEL, "-o", d / "out", "--table", EPFL, "--widefield", d / "wf.tif",
                  "--widefield-frames", 1).stdout
        self.assertIn("A-net+wf", out)
        self.assertIn("verdict: the A-net's image from S + widefield of the first", out)  # judged too
        with open(d / "out" / "evaluate-table.csv") as f:
            rows = {r[0]: r[1:] for r in csv.reader(l for l in f if not l.startswith("#"))}
        self.assertEqual(rows["anet_widefield"][3], "")  # no FRC: both halves would share the widefield
        print("EPFL, first 10%% of frames, MS-SSIM: histogram %s, A-net %s, A-net + widefield %s" % (
            rows["histogram"][0], rows["anet"][0], rows["anet_widefield"][0]))
        self.assertGreater(float(rows["anet_widefield"][0]), float(rows["histogram"][0]))
        # Scored, and written, on the table's region as without a widefield: the same histogram
        # score and image size, also when the camera field is far larger than the table's (over a
        # mostly empty field the histogram's zeros won: 0.99 against the A-net's 0.88).
        run("evaluate", "--model", MODEL, "-o", d / "plain", "--table", EPFL, "--no-frc")
        with open(d / "plain" / "evaluate-table.csv") as f:
            plain = {r[0]: r[1:] for r in csv.reader(l for l in f if not l.startswith("#"))}
        shape = tifffile.imread(d / "plain" / "dense.tif").shape
        for name in ("anet-widefield", "widefield", "dense", "sparse", "anet"):
            self.assertEqual(tifffile.imread(d / "out" / (name + ".tif")).shape, shape, name)
        self.assertEqual(rows["histogram"][:3], plain["histogram"][:3])
        big = np.full((3 * h, 3 * w), 100, np.float32)
        big[:h, :w] = tifffile.imread(d / "wf.tif")
        tifffile.imwrite(d / "big.tif", big)
        out = run("evaluate", "--model", MODEL, "-o", d / "big", "--table", EPFL, "--widefield", d / "big.tif",
                  "--widefield-frames", 1, "--no-frc")
        self.assertIn("scored on the table's region", out.stderr)
        with open(d / "big" / "evaluate-table.csv") as f:
            wide = {r[0]: r[1:] for r in csv.reader(l for l in f if not l.startswith("#"))}
        self.assertEqual(wide["histogram"][:3], plain["histogram"][:3])
        # The network sees the table's region too: the same S-only reconstruction, and the same
        # S + widefield one as with the widefield of the table's field alone.
        self.assertEqual(wide["anet"][:3], plain["anet"][:3])
        self.assertAlmostEqual(float(wide["anet_widefield"][0]), float(rows["anet_widefield"][0]), delta=0.01)
        self.assertEqual(tifffile.imread(d / "big" / "dense.tif").shape, shape)
        # -o the folder that holds the widefield (a FoV folder): its widefield.tif would be
        # replaced by the processed one; refused, the input untouched.
        shutil.copy(d / "wf.tif", d / "widefield.tif")
        before = (d / "widefield.tif").read_bytes()
        p = run("evaluate", "--model", MODEL, "-o", d, "--table", EPFL, "--widefield", d / "widefield.tif",
                "--widefield-frames", 1, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("over the input %s" % (d / "widefield.tif"), p.stderr)
        self.assertEqual((d / "widefield.tif").read_bytes(), before)
        # A widefield of another field (the table mostly outside it) is named, not scored.
        tifffile.imwrite(d / "small.tif", np.full((8, 8), 100, np.float32))
        p = run("evaluate", "--model", MODEL, "-o", d / "x", "--table", EPFL, "--widefield", d / "small.tif",
                "--widefield-frames", 1, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("lie outside the widefield's field", p.stderr)
        p = run("evaluate", "--model", MODEL, "-o", d / "x", "--widefield", d / "wf.tif", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("--widefield goes with --table", p.stderr)


if __name__ == "__main__":
    unittest.main()
