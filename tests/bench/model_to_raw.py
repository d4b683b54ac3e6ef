#!/usr/bin/env python3
"""Write a model file's generator as net.txt + net.bin for tests/bench/anet_gpu_check.

The GPU check build has LibTorch but no HDF5 library; h5py (present on the GPU machines and in
Debian) reads the model file instead, and this plain layout carries the arrays across:
  net.txt: "ngf N", "in_channels N", "decoder NAME", "dropout X", then one line per array:
           "array NAME NDIM D1 .. Dn OFFSET" (OFFSET in float32 values into net.bin)
  net.bin: the arrays, float32 little-endian, row-major, one after another.
usage: model_to_raw.py MODEL.h5 OUT_DIR
"""
import os
import sys

import h5py
import numpy as np


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with h5py.File(model, "r") as f:
        if f.attrs.get("format") not in ("annamosaic-anet", b"annamosaic-anet"):
            sys.exit(f"{model}: not an annamosaic A-net model file")

        def attr(name):
            v = f.attrs[name]
            return v.decode() if isinstance(v, bytes) else v

        lines = [f"ngf {int(attr('ngf'))}", f"in_channels {int(attr('in_channels'))}",
                 f"decoder {attr('decoder')}", f"dropout {float(attr('dropout'))}"]
        offset = 0
        with open(os.path.join(out, "net.bin"), "wb") as b:
            for name, ds in f["generator"].items():
                a = np.ascontiguousarray(ds[...], dtype="<f4")
                lines.append(f"array {name} {a.ndim} {' '.join(str(d) for d in a.shape)} {offset}".replace("  ", " "))
                b.write(a.tobytes())
                offset += a.size
    with open(os.path.join(out, "net.txt"), "w") as t:
        t.write("\n".join(lines) + "\n")
    print(f"{model}: {len(lines) - 4} generator arrays, {offset} values -> {out}")


if __name__ == "__main__":
    main()
