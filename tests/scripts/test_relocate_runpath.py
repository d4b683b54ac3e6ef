"""scripts/relocate-runpath.py on libraries built here the way Debian's OpenMPI is: a library with
RUNPATH /usr/lib/x86_64-linux-gnu/openmpi/lib whose dependency sits beside it. Unpacked under
another prefix it cannot find that dependency; relocated, it can, through an $ORIGIN RPATH."""
import os, shutil, subprocess, sys, tempfile, unittest

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOOL = os.path.join(REPO, "scripts", "relocate-runpath.py")
ARCH = "usr/lib/x86_64-linux-gnu"


def dynamic(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    return [l for l in out.splitlines() if "RPATH" in l or "RUNPATH" in l]


def cc(*args):
    subprocess.run(["cc", *args], check=True, capture_output=True)


class RelocateRunpath(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="relocate-")
        self.prefix = os.path.join(self.tmp, "prefix")
        lib = os.path.join(self.prefix, ARCH)
        plugins = os.path.join(lib, "openmpi", "lib", "openmpi3")
        os.makedirs(plugins)
        src = os.path.join(self.tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "b.c"), "w") as f:
            f.write("int b(void) { return 42; }\n")
        with open(os.path.join(src, "a.c"), "w") as f:
            f.write("int b(void);\nint a(void) { return b(); }\n")
        cc("-shared", "-fPIC", "-o", os.path.join(lib, "libreloc_b.so"), os.path.join(src, "b.c"))
        # As Debian builds libmpi: a RUNPATH naming the system folder it will live in.
        self.a = os.path.join(lib, "libreloc_a.so")
        cc("-shared", "-fPIC", "-o", self.a, os.path.join(src, "a.c"), "-L" + lib, "-lreloc_b",
           "-Wl,--enable-new-dtags,-rpath,/usr/lib/x86_64-linux-gnu/openmpi/lib")
        # A plugin three folders below, and one whose RUNPATH is too short for the new path.
        self.plugin = os.path.join(plugins, "mca_reloc.so")
        cc("-shared", "-fPIC", "-o", self.plugin, os.path.join(src, "a.c"), "-L" + lib, "-lreloc_b",
           "-Wl,--enable-new-dtags,-rpath,/usr/lib/x86_64-linux-gnu/openmpi/lib")
        self.short = os.path.join(plugins, "mca_short.so")
        cc("-shared", "-fPIC", "-o", self.short, os.path.join(src, "a.c"), "-L" + lib, "-lreloc_b",
           "-Wl,--enable-new-dtags,-rpath,/opt/x")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ldd_missing(self, path):
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        return "libreloc_b.so => not found" in out

    def test_relocated_libraries_find_their_neighbours(self):
        self.assertTrue(self.ldd_missing(self.a))  # the problem: the system path is not here
        self.assertIn("RUNPATH", dynamic(self.a)[0])
        r = subprocess.run([sys.executable, TOOL, self.prefix], capture_output=True, text=True, check=True)
        self.assertIn("2 files now look up their libraries inside", r.stdout)
        self.assertIn("left alone, too long", r.stdout)  # /opt/x cannot hold $ORIGIN/../../..
        self.assertIn("mca_short.so", r.stdout)
        # RPATH (serves the libraries it loads too), $ORIGIN-relative: the prefix may move.
        self.assertEqual(len(dynamic(self.a)), 1)
        self.assertIn("(RPATH)", dynamic(self.a)[0])
        self.assertIn("[$ORIGIN]", dynamic(self.a)[0])
        self.assertIn("[$ORIGIN/../../..]", dynamic(self.plugin)[0])
        self.assertFalse(self.ldd_missing(self.a))
        self.assertFalse(self.ldd_missing(self.plugin))
        self.assertTrue(self.ldd_missing(self.short))
        moved = os.path.join(self.tmp, "moved")
        shutil.move(self.prefix, moved)
        self.assertFalse(self.ldd_missing(os.path.join(moved, ARCH, "libreloc_a.so")))
        # A second run changes nothing.
        r = subprocess.run([sys.executable, TOOL, moved], capture_output=True, text=True, check=True)
        self.assertIn("0 files now look up", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
