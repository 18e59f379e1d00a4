#!/usr/bin/env python3
# Random writes and zeros, unaligned and across grain boundaries, sent
# to an NBD URI with qemu-io and applied to a raw copy at the same time:
#   vmdk-randwrite.py URI RAWFILE SEED COUNT [MAXLEN [trim]]
# With "trim", discards too (for images without a parent, where a
# discarded range reads as zeros).  Afterwards the image behind URI must
# read as RAWFILE does.
import random
import subprocess
import sys

uri, raw, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
maxlen = int(sys.argv[5]) if len(sys.argv) > 5 else 200000
trim = len(sys.argv) > 6 and sys.argv[6] == "trim"
size = int(subprocess.check_output(["nbdinfo", "--size", uri]))
r = random.Random(seed)
cmds = []
with open(raw, "r+b") as f:
    for _ in range(count):
        off = r.randrange(0, size - 1)
        n = min(r.randrange(1, maxlen), size - off)
        k = r.random()
        if trim and k < 0.1:
            cmds += ["-c", "discard %d %d" % (off, n)]
            data = b"\0" * n
        elif k < 0.2:
            cmds += ["-c", "write -z %d %d" % (off, n)]
            data = b"\0" * n
        else:
            pat = r.randrange(1, 256)
            cmds += ["-c", "write -P %d %d %d" % (pat, off, n)]
            data = bytes([pat]) * n
        f.seek(off)
        f.write(data)
subprocess.check_call(["qemu-io", "-f", "raw"] + cmds + [uri],
                      stdout=subprocess.DEVNULL)
