"""Python twin of synthetic_mosaic.hpp: the same deterministic pixels, bit for bit (numpy)."""
import numpy as np

NAMES = ["reconstruction", "error map", "widefield", "sparse"]

_C1 = np.uint32(0x9E3779B1)
_C2 = np.uint32(0x85EBCA77)
_C4 = np.uint32(0x2C1B3C6D)


def _hash(x, y, c):
    """x: uint32 row vector (1, W), y: uint32 column vector (H, 1)."""
    with np.errstate(over="ignore"):
        h = (x * _C1) ^ (y * _C2) ^ np.uint32(((c + 1) * 0xC2B2AE3D) & 0xFFFFFFFF)
        h = h ^ (h >> np.uint32(15))
        h = h * _C4
        h = h ^ (h >> np.uint32(12))
    return h


def region(c, x0, y0, w, h):
    """Channel c of the level-0 region [x0, x0+w) x [y0, y0+h) as a (h, w) uint16 array."""
    xs = np.arange(x0, x0 + w, dtype=np.int64)[None, :]
    ys = np.arange(y0, y0 + h, dtype=np.int64)[:, None]
    hh = _hash(xs.astype(np.uint32), ys.astype(np.uint32), c)
    k = c % 4
    if k == 0:
        on = ((xs * 7 + ys * 3) % 251 < 4) | ((xs * 2 + ys * 9 + 17) % 307 < 3)
        bright = 30000 + (hh & np.uint32(0x7FFF))
        background = np.where(((hh >> np.uint32(8)) & np.uint32(0xFF)) < 3, hh & np.uint32(0x3F), 0)
        out = np.where(on, bright, background)
    elif k == 1:
        out = (((xs >> 6) + (ys >> 6)) & 0xF) * 64 + (hh & np.uint32(0x3F))
    elif k == 2:
        out = 1000 + ((xs >> 4) % 64) * ((ys >> 4) % 64) + (hh & np.uint32(0x1F))
    else:
        out = np.where(((hh >> np.uint32(4)) & np.uint32(0x3FF)) == 0, 1 + (hh & np.uint32(3)), 0)
    return np.broadcast_to(out, (h, w)).astype(np.uint16)


def downsample(a):
    """The pyramid rule: floor sizes, (a + b + c + d + 2) // 4 over 2x2 blocks."""
    h, w = a.shape[0] // 2, a.shape[1] // 2
    b = a[: 2 * h, : 2 * w].astype(np.uint32)
    s = b[0::2, 0::2] + b[0::2, 1::2] + b[1::2, 0::2] + b[1::2, 1::2]
    return ((s + 2) >> 2).astype(np.uint16)


def plan_levels(width, height):
    """Level sizes: halve until a level fits one 512 x 1024 chunk (or a side would be 0)."""
    levels = [(width, height)]
    while True:
        w, h = levels[-1]
        if (w <= 1024 and h <= 512) or w < 2 or h < 2:
            return levels
        levels.append((w // 2, h // 2))
