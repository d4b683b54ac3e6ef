#!/usr/bin/env python3
"""Crash safety of the IMS writer: a writer killed (SIGKILL) in the middle of a mosaic leaves
nothing under the final names (mosaic.ims, mosaic.xml), only its temporary file; a rerun into the
same folder then completes normally and the result passes check_ims.py.
Usage: check_crash.py WRITE_SYNTHETIC_IMS FOLDER
"""
import os
import signal
import subprocess
import sys

tool, folder = sys.argv[1], sys.argv[2]
os.makedirs(folder, exist_ok=True)
for name in os.listdir(folder):
    os.remove(os.path.join(folder, name))
final = os.path.join(folder, "mosaic.ims")
args = [tool, "--out", final, "--width", "4096", "--height", "3072", "--channels", "3"]

killed = subprocess.run(args + ["--abort-after", "5"], capture_output=True, text=True)
ok = True
if killed.returncode != -signal.SIGKILL:
    print(f"expected the writer to die of SIGKILL, got exit {killed.returncode}: {killed.stderr}")
    ok = False
left = sorted(os.listdir(folder))
if "mosaic.ims" in left or "mosaic.xml" in left:
    print(f"a killed writer left a final name behind: {left}")
    ok = False
if not any(n.startswith("mosaic.ims.tmp.") for n in left):
    print(f"expected the killed writer's temporary file, found {left}")
    ok = False
print(f"after SIGKILL mid-write: {left}")

done = subprocess.run(args, capture_output=True, text=True)
if done.returncode != 0 or not os.path.exists(final) or not os.path.exists(os.path.join(folder, "mosaic.xml")):
    print(f"rerun failed (exit {done.returncode}): {done.stderr}")
    ok = False
else:
    here = os.path.dirname(os.path.abspath(__file__))
    chk = subprocess.run([sys.executable, os.path.join(here, "check_ims.py"), final, "--synthetic", "--xml",
                          os.path.join(folder, "mosaic.xml")], capture_output=True, text=True)
    print(chk.stdout.strip())
    ok = ok and chk.returncode == 0
sys.exit(0 if ok else 1)
