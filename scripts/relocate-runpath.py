#!/usr/bin/env python3
"""Points the library search paths of the ELF files in an unpacked Debian prefix into the prefix.

  python3 scripts/relocate-runpath.py PREFIX

Debian's OpenMPI libraries and programs carry RUNPATH /usr/lib/<arch>/openmpi/lib. A library
with a RUNPATH has its own dependencies looked up there and never through the executable's
RPATH, so once unpacked elsewhere, libmpi.so.40 cannot find libopen-rte.so.40 beside it. Each
such entry is rewritten, in place, to an $ORIGIN-relative path into the prefix (the folder
holding the libraries for .../openmpi/lib, the same folder under PREFIX otherwise); entries
naming Debian's build tree are dropped. The tag becomes DT_RPATH: unlike a RUNPATH, an RPATH
also serves the dependencies of the libraries it loads that have no search path of their own
(orterun -> libopen-rte -> libopen-pal -> libevent_pthreads), so no LD_LIBRARY_PATH is needed.
The new string must fit in the old one's bytes (it is padded with NULs), which holds for every
file annamosaic loads; a file where it does not is listed and left alone. Used by
scripts/setup-gpu-node.sh; needs no patchelf.
"""
import os
import struct
import sys

DT_NULL, DT_STRTAB, DT_RPATH, DT_RUNPATH = 0, 5, 15, 29


def dynamic_entries(data):
    """(file offset of .dynamic, file offset of .dynstr) of a 64-bit little-endian ELF, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    e_shoff, = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    dyn = None
    sections = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        sh_type, = struct.unpack_from("<I", data, off + 4)
        sh_offset, sh_size = struct.unpack_from("<QQ", data, off + 0x18)
        sh_link, = struct.unpack_from("<I", data, off + 0x28)
        sections.append((sh_type, sh_offset, sh_size, sh_link))
        if sh_type == 6:  # SHT_DYNAMIC
            dyn = (sh_offset, sh_size, sh_link)
    if dyn is None:
        return None
    strtab_off = sections[dyn[2]][1]
    return dyn[0], dyn[1], strtab_off


def new_runpath(old, file_dir, prefix, arch_dir):
    parts = []
    for e in old.split(":"):
        if e.startswith("$ORIGIN"):  # already relocated (a second run)
            parts.append(e)
            continue
        if not e.startswith("/") or e.startswith("/build/"):
            continue
        target = arch_dir if e.rstrip("/").endswith("/openmpi/lib") else prefix + e
        rel = os.path.relpath(target, file_dir)
        parts.append("$ORIGIN" if rel == "." else "$ORIGIN/" + rel)
    return ":".join(dict.fromkeys(parts))


def relocate(path, prefix, arch_dir):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    found = dynamic_entries(data)
    if not found:
        return None
    dyn_off, dyn_size, str_off = found
    changed = None
    for i in range(dyn_size // 16):
        tag, val = struct.unpack_from("<qQ", data, dyn_off + 16 * i)
        if tag == DT_NULL:
            break
        if tag not in (DT_RPATH, DT_RUNPATH):
            continue
        start = str_off + val
        end = data.index(b"\0", start)
        old = data[start:end].decode()
        new = new_runpath(old, os.path.dirname(path), prefix, arch_dir)
        if new == old and tag == DT_RPATH:
            continue
        if len(new) > len(old):
            return f"too long: {path}: '{new}' does not fit in '{old}'"
        data[start:end] = new.encode() + b"\0" * (len(old) - len(new))
        struct.pack_into("<q", data, dyn_off + 16 * i, DT_RPATH)
        changed = f"{os.path.relpath(path, prefix)}: {old} -> {new}"
    if changed:
        tmp = path + ".relocating"
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, os.stat(path).st_mode)
        os.replace(tmp, path)
    return changed


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: relocate-runpath.py PREFIX")
    prefix = os.path.abspath(sys.argv[1])
    arch_dir = os.path.join(prefix, "usr/lib/x86_64-linux-gnu")
    n, skipped = 0, []
    for root, _, files in os.walk(prefix):
        for name in files:
            p = os.path.join(root, name)
            if os.path.islink(p) or not (".so" in name or root.endswith("/bin")):
                continue
            r = relocate(p, prefix, arch_dir)
            if r and r.startswith("too long"):
                skipped.append(r)
            elif r:
                n += 1
    print(f"relocate-runpath: {n} files now look up their libraries inside {prefix}")
    for s in skipped:
        print(f"relocate-runpath: left alone, {s}")


if __name__ == "__main__":
    main()
