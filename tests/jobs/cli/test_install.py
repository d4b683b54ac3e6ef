"""`cmake --install` into a prefix, as a cluster admin makes a module of annamosaic, and the
installed binary used from outside the source tree: what the README names is there, the shipped
model is found in the prefix (never in the build host's source tree), $ANNAMOSAIC_MODELS takes a
list of folders, and the RPATH survives installation."""
import os, shutil, stat, subprocess, tempfile, unittest

BIN = os.environ["ANNAMOSAIC_BIN"]
BUILD = os.environ["ANNAMOSAIC_BUILD_DIR"]
SOURCE = os.environ["ANNAMOSAIC_SOURCE_DIR"]
DATA = os.environ["ANNAMOSAIC_TEST_DATA"]
EPFL = os.path.join(DATA, "epfl2013-bundled-tubes-hd-groundtruth.csv")
MODEL = "anet-microtubules-ngf16.h5"


def runpath(binary):
    """The RUNPATH's entries as written, empty ones included (an empty entry is the current folder)."""
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if "RUNPATH" in line or "RPATH" in line:
            return line.split("[", 1)[1].rstrip("]").split(":")
    return []


class InstalledPrefix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Outside the build tree, as a module prefix is.
        cls.dir = tempfile.mkdtemp(prefix="annamosaic-install-")
        cls.prefix = os.path.join(cls.dir, "prefix")
        cls.work = os.path.join(cls.dir, "work")
        os.makedirs(cls.work)
        p = subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix], capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError(f"cmake --install failed:\n{p.stdout}\n{p.stderr}")
        cls.bin = os.path.join(cls.prefix, "bin", "annamosaic")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def reconstruct(self, out, env=None):
        # From a folder outside the source tree, by the model's bare name.
        return subprocess.run([self.bin, "reconstruct", "--model", MODEL, "--table", EPFL, "--frames", "first:200",
                               "--threads", "1", "-o", os.path.join(self.dir, out)],
                              capture_output=True, text=True, cwd=self.work, env={**os.environ, **(env or {})}, timeout=300)

    def test_the_prefix_holds_what_the_readme_names(self):
        share = os.path.join(self.prefix, "share")
        for rel in ("annamosaic/models/" + MODEL, "annamosaic/models/SHA256SUMS", "annamosaic/configs/demo.ini",
                    "annamosaic/configs/train-microtubules-demo.ini", "annamosaic/slurm/submit-campaign.sh",
                    "annamosaic/slurm/annamosaic-grid.sbatch", "annamosaic/scripts/stage-table.py",
                    "annamosaic/data/PROVENANCE.md", "annamosaic/data/epfl2013-bundled-tubes-hd-groundtruth.csv",
                    "doc/annamosaic/README.md", "doc/annamosaic/LICENSE"):
            self.assertTrue(os.path.isfile(os.path.join(share, rel)), rel)
        for rel in ("annamosaic/slurm/submit-campaign.sh", "annamosaic/slurm/annamosaic-grid.sbatch"):
            self.assertTrue(os.stat(os.path.join(share, rel)).st_mode & stat.S_IXUSR, rel + " is not executable")
        # The installed binary finds the libraries the build linked outside the system folders
        # (here OpenMPI's and parallel HDF5's; on a GPU node a PyTorch wheel's).
        self.assertEqual(runpath(self.bin), runpath(BIN))
        self.assertTrue(runpath(self.bin))
        # No empty entry, in the build tree's binary either: the loader would look in the current
        # folder first (CMake's in-place RPATH edit padded the build tree's with ':').
        for binary in (self.bin, BIN):
            self.assertNotIn("", runpath(binary), binary)

    def test_the_installed_binary_uses_the_installed_model(self):
        # --version says where a bare model name is looked for.
        v = subprocess.run([self.bin, "--version"], capture_output=True, text=True, check=True).stdout
        self.assertIn("model folders: " + os.path.join(self.prefix, "share", "annamosaic", "models") + "\n", v)
        p = self.reconstruct("rec-installed.tif")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("model " + os.path.join(self.prefix, "share", "annamosaic", "models", MODEL), p.stderr)

    def test_a_prefix_without_its_models_never_falls_back_to_the_source_tree(self):
        models = os.path.join(self.prefix, "share", "annamosaic", "models")
        moved = os.path.join(self.dir, "models-elsewhere")
        shutil.copytree(models, moved, dirs_exist_ok=True)
        os.rename(models, models + ".off")
        try:
            p = self.reconstruct("rec-none.tif")
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(f"--model {MODEL}: file not found in the working folder {self.work}", p.stderr)
            self.assertIn(models, p.stderr)  # where it looked
            self.assertNotIn(os.path.join(SOURCE, "models"), p.stderr)
            # $ANNAMOSAIC_MODELS is a list of folders, like PATH (empty and missing entries pass).
            p = self.reconstruct("rec-env.tif", {"ANNAMOSAIC_MODELS": "/nonexistent-annamosaic-models::" + moved})
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("model " + os.path.join(moved, MODEL), p.stderr)
        finally:
            os.rename(models + ".off", models)

    def test_the_build_tree_binary_still_uses_the_source_tree_model(self):
        p = subprocess.run([BIN, "reconstruct", "--model", MODEL, "--table", EPFL, "--frames", "first:200", "--threads", "1",
                            "-o", os.path.join(self.dir, "rec-build.tif")], capture_output=True, text=True, cwd=self.work,
                           env={k: v for k, v in os.environ.items() if k != "ANNAMOSAIC_MODELS"}, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("model " + os.path.join(os.path.realpath(SOURCE), "models", MODEL), p.stderr)


if __name__ == "__main__":
    unittest.main()
