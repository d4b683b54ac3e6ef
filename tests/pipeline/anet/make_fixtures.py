#!/usr/bin/env python3
"""Fixtures and independent reference values for the A-net metric and loss tests.

    /usr/bin/python3 make_fixtures.py [--check] [DIR]      (DIR defaults to ./fixtures)

Writes DIR/metric_a.tif, metric_b.tif (192 x 176 float32 in [0, 1]), small_a.tif, small_b.tif
(48 x 40), authors_msssim_map.tif (the authors' per-pixel MS-SSIM map of the small pair) and
reference_values.txt ("key value" lines). The references come from scikit-image (SSIM, PSNR)
and from plain numpy/scipy code written from the definitions (Wang's pyramid MS-SSIM, the
authors' multi-sigma map, FRC), not from annamosaic. With --check the images in DIR are read
back and every reference value is recomputed and compared with the committed file (exit 1 on a
difference), so a change of scikit-image or of the fixtures cannot go unnoticed.
Needs Debian's python3-numpy, -scipy, -skimage, -tifffile.
"""
import sys
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def make_images(h, w, seed):
    rng = np.random.RandomState(seed)
    base = ndimage.gaussian_filter(rng.rand(h, w), 2.0)
    base = (base - base.min()) / (base.max() - base.min())
    a = np.clip(base ** 3 * 1.5, 0, 1)
    b = np.clip(np.roll(a, 1, axis=1) * 0.9 + 0.08 * rng.randn(h, w) + 0.05, 0, 1)
    return a.astype(np.float32), b.astype(np.float32)


def ssim_parts(a, b, sigma=1.5, c1=1e-4, c2=9e-4):
    """Wang's SSIM and cs means with a Gaussian window (scipy, truncate 3.5), valid region."""
    f = lambda x: ndimage.gaussian_filter(x, sigma, truncate=3.5, mode="reflect")
    r = int(3.5 * sigma + 0.5)
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    ma, mb = f(a), f(b)
    va, vb, vab = f(a * a) - ma * ma, f(b * b) - mb * mb, f(a * b) - ma * mb
    cs = (2 * vab + c2) / (va + vb + c2)
    s = (2 * ma * mb + c1) / (ma * ma + mb * mb + c1) * cs
    crop = (slice(r, -r), slice(r, -r))
    return s[crop].mean(), cs[crop].mean()


def ms_ssim_wang(a, b):
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    value = 1.0
    for level, wt in enumerate(weights):
        s, cs = ssim_parts(a, b)
        value *= max(s if level == 4 else cs, 0.0) ** wt
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        a = a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        b = b[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    return value


def window(size, sigma):
    r = size // 2
    x = np.arange(-r, r + 1)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def authors_msssim_map(a, b):
    """anet.md: sigma 0.5..8, sizes max(4 sigma + 1, 11), zero padding, clipped maps."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    c1, c2 = 1e-4, 9e-4
    out = np.ones_like(a)
    for i, sigma in enumerate([0.5, 1, 2, 4, 8]):
        k = window(int(max(sigma * 4 + 1, 11)), sigma)
        f = lambda x: ndimage.correlate(x, k, mode="constant", cval=0.0)
        ma, mb = f(a), f(b)
        va, vb, vab = f(a * a) - ma * ma, f(b * b) - mb * mb, f(a * b) - ma * mb
        cs = (2 * vab + c2) / (va + vb + c2)
        out *= np.clip(cs, 0, 1)
        if i == 4:
            out *= np.clip((2 * ma * mb + c1) / (ma * ma + mb * mb + c1) * cs, 0, 1)
    return out


def gaussian_l1_map(a, b):
    return ndimage.correlate(np.abs(a.astype(np.float64) - b.astype(np.float64)), window(33, 8.0), mode="constant")


def tukey(n, alpha=0.25):
    w = np.ones(n)
    edge = alpha * (n - 1) / 2
    d = np.minimum(np.arange(n), n - 1 - np.arange(n))
    m = d < edge
    w[m] = 0.5 * (1 - np.cos(np.pi * d[m] / edge))
    return w


def frc(a, b, pixel_nm, threshold=1 / 7):
    h, w = a.shape
    win = np.outer(tukey(h), tukey(w))
    fa = np.fft.fft2(a.astype(np.float64) * win)
    fb = np.fft.fft2(b.astype(np.float64) * win)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    bin_ = 1.0 / max(h, w)
    rings = int(0.5 / bin_) + 1
    r = np.rint(np.sqrt(fx ** 2 + fy ** 2) / bin_).astype(int)
    num = np.bincount(r.ravel(), (fa * np.conj(fb)).real.ravel(), minlength=rings)[:rings]
    da = np.bincount(r.ravel(), (np.abs(fa) ** 2).ravel(), minlength=rings)[:rings]
    db = np.bincount(r.ravel(), (np.abs(fb) ** 2).ravel(), minlength=rings)[:rings]
    curve = num / np.sqrt(da * db)
    for i in range(2, rings):
        if curve[i] < threshold:
            c0, c1 = curve[i - 1], curve[i]
            t = (c0 - threshold) / (c0 - c1) if c0 > c1 else 0.0
            return 1.0 / ((i - 1 + min(max(t, 0), 1)) * bin_ / pixel_nm), curve
    return 2 * pixel_nm, curve


def references(d):
    a = tifffile.imread(d / "metric_a.tif")
    b = tifffile.imread(d / "metric_b.tif")
    sa = tifffile.imread(d / "small_a.tif")
    sb = tifffile.imread(d / "small_b.tif")
    ref = {}
    ref["ssim_skimage"] = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                                data_range=1.0)
    own, _ = ssim_parts(a, b)
    assert abs(own - ref["ssim_skimage"]) < 1e-6, (own, ref["ssim_skimage"])  # same definition, two implementations
    ref["psnr_skimage"] = peak_signal_noise_ratio(a.astype(np.float64), b.astype(np.float64), data_range=1.0)
    ref["ms_ssim_wang"] = ms_ssim_wang(a, b)
    ref["ms_ssim_wang_identical"] = ms_ssim_wang(a, a)
    res, curve = frc(a, b, 20.0)
    ref["frc_resolution_nm"] = res
    for i in (1, 5, 20, 50):
        ref["frc_curve_%d" % i] = curve[i]
    m = authors_msssim_map(sa, sb)
    ref["authors_msssim_mean"] = m.mean()
    ref["gaussian_l1_mean"] = gaussian_l1_map(sa, sb).mean()
    return ref, m.astype(np.float32)


def main():
    args = [x for x in sys.argv[1:] if x != "--check"]
    check = "--check" in sys.argv[1:]
    d = Path(args[0]) if args else Path(__file__).resolve().parent / "fixtures"
    if not check:
        d.mkdir(parents=True, exist_ok=True)
        a, b = make_images(192, 176, 4)
        sa, sb = make_images(48, 40, 5)
        for name, im in (("metric_a", a), ("metric_b", b), ("small_a", sa), ("small_b", sb)):
            tifffile.imwrite(d / (name + ".tif"), im)
    ref, msmap = references(d)
    if check:
        committed = {}
        for line in (d / "reference_values.txt").read_text().splitlines():
            if line and not line.startswith("#"):
                k, v = line.split()
                committed[k] = float(v)
        bad = [k for k in ref if k not in committed or abs(committed[k] - ref[k]) > 1e-7 * max(1.0, abs(ref[k]))]
        stored = tifffile.imread(d / "authors_msssim_map.tif")
        if np.abs(stored - msmap).max() > 1e-6:
            bad.append("authors_msssim_map.tif")
        for k in bad:
            print("MISMATCH", k, committed.get(k), ref.get(k))
        print("reference values", "differ" if bad else "reproduced", "(%d checked)" % len(ref))
        return 1 if bad else 0
    tifffile.imwrite(d / "authors_msssim_map.tif", msmap)
    with open(d / "reference_values.txt", "w") as f:
        f.write("# written by make_fixtures.py (scikit-image %s, numpy %s)\n" % (
            __import__("skimage").__version__, np.__version__))
        for k, v in ref.items():
            f.write("%s %.12g\n" % (k, v))
    print("wrote", d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
