#!/usr/bin/env python3
"""Opens an A-net model file with h5py (an independent HDF5 reader) and checks it against the
architecture in shared/reference/anet.md: every array the attributes imply is there, float32,
with the right shape, and nothing else. Usage: check_model_h5py.py MODEL.h5"""
import sys

import h5py
import numpy as np


def expected_shapes(ngf, in_ch, q_nf, decoder):
    g = ngf
    ch = [g, 2 * g, 4 * g, 8 * g, 8 * g, 8 * g, 8 * g, 8 * g]
    gen = {}
    for k in range(8):
        cin = in_ch if k == 0 else ch[k - 1]
        gen["enc%d.conv.weight" % (k + 1)] = (ch[k], cin, 4, 4)
        gen["enc%d.switch" % (k + 1)] = (ch[k], 1, 1, 1)
        if k > 0:
            gen["enc%d.norm.weight" % (k + 1)] = (ch[k],)
            gen["enc%d.norm.bias" % (k + 1)] = (ch[k],)
    for k in range(8, 0, -1):
        cin = ch[7] if k == 8 else 2 * ch[k - 1]
        cout = 1 if k == 1 else ch[k - 2]
        # Conv2d weights are [out, in, kh, kw]; ConvTranspose2d weights [in, out, kh, kw].
        gen["dec%d.up.conv.weight" % k] = (cout, cin, 3, 3) if decoder == "resize-conv" else (cin, cout, 4, 4)
        if k > 1:
            gen["dec%d.norm.weight" % k] = (cout,)
            gen["dec%d.norm.bias" % k] = (cout,)
    q = {}
    qc = [q_nf, 2 * q_nf, 4 * q_nf, 1]
    for k in range(4):
        cin = 1 if k == 0 else qc[k - 1]
        q["layer%d.conv.weight" % (k + 1)] = (qc[k], cin, 5, 5)
        q["layer%d.conv.bias" % (k + 1)] = (qc[k],)
        if k in (1, 2):
            q["layer%d.norm.weight" % (k + 1)] = (qc[k],)
            q["layer%d.norm.bias" % (k + 1)] = (qc[k],)
    return gen, q


def as_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main(path):
    with h5py.File(path, "r") as f:
        assert as_str(f.attrs["format"]) == "annamosaic-anet", f.attrs["format"]
        assert int(f.attrs["format_version"]) == 1
        ngf, in_ch, q_nf = int(f.attrs["ngf"]), int(f.attrs["in_channels"]), int(f.attrs["q_nf"])
        decoder = as_str(f.attrs["decoder"])
        gen, q = expected_shapes(ngf, in_ch, q_nf, decoder)
        for group, want in (("generator", gen), ("lowres_estimator", q)):
            have = {k: f[group][k] for k in f[group]}
            assert set(have) == set(want), (group, sorted(set(have) ^ set(want)))
            for k, ds in have.items():
                assert ds.dtype == np.float32, (group, k, ds.dtype)
                assert ds.shape == want[k], (group, k, ds.shape, want[k])
                assert np.isfinite(ds[...]).all(), (group, k)
        n_g = sum(int(np.prod(s)) for s in gen.values())
        n_q = sum(int(np.prod(s)) for s in q.values())
        prov = {k: as_str(v) for k, v in f["provenance"].attrs.items()}
        print("%s: ngf %d, %s, G %d parameters, Q %d; provenance: %s" % (
            path, ngf, decoder, n_g, n_q, ", ".join("%s=%s" % (k, prov[k][:40]) for k in sorted(prov) if k != "config")))
        if ngf == 64 and in_ch == 2 and decoder == "resize-conv":
            assert n_g == 39158464
        if q_nf == 8:
            assert n_q == 17153
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
