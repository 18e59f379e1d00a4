#!/usr/bin/python3
# libyal-compare.py RAW IMG [PARENT...]: read IMG (a VHD or VHDX with
# libvhdi, a VMDK with libvmdk), its parents given explicitly, child
# first, and compare every byte with RAW.  An independent reader for the
# write tests: the plugin that wrote an image must not be the only one
# that reads it back.  Exit 77 (SKIP) without the Python bindings, which
# Debian packages for /usr/bin/python3 (python3-libvhdi, python3-libvmdk).
import sys

def open_image(path):
    if path.endswith(".vmdk"):
        import pyvmdk
        h = pyvmdk.handle()
        h.open(path)
        h.open_extent_data_files()
    else:
        import pyvhdi
        h = pyvhdi.file()
        h.open(path)
    return h

def main():
    raw_path, chain = sys.argv[1], sys.argv[2:]
    try:
        handles = [open_image(p) for p in chain]
    except ImportError as e:
        print("libyal-compare.py: skipped: %s" % e)
        sys.exit(77)
    # Link each image to its parent, base first so that every parent is
    # complete when its child is linked to it.
    for child, parent in reversed(list(zip(handles, handles[1:]))):
        child.set_parent(parent)
    top = handles[0]
    with open(raw_path, "rb") as f:
        raw = f.read()
    if top.get_media_size() != len(raw):
        sys.exit("%s: size %d, expected %d"
                 % (chain[0], top.get_media_size(), len(raw)))
    step = 1 << 20
    for off in range(0, len(raw), step):
        got = top.read_buffer_at_offset(min(step, len(raw) - off), off)
        want = raw[off:off + step]
        if got != want:
            i = next(i for i in range(len(want)) if got[i:i + 1] != want[i:i + 1])
            sys.exit("%s: byte %d reads %r, expected %r (libyal)"
                     % (chain[0], off + i, got[i:i + 1], want[i:i + 1]))

main()
