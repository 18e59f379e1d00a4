#!/usr/bin/env bash
# Differencing VDI children made with create-parent= and written
# through the vdix plugin: the parent is never modified, the child names
# the parent's UUIDs, partial writes take the rest of the block from the
# parent, zeros hide the parent, trim never exposes it wrongly, and the
# chain reads back as expected (qemu cannot read VDI differencing images,
# so the expected bytes come from the same writes on a raw copy).
source "$srcdir/functions.sh"
set -e -x

requires_plugin vdix
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires python3 --version
make_tmpdir
M=$(( 1 << 20 ))
vdix=$(plugin vdix)
mkdiff="python3 $srcdir/vdi-mkdiff.py"

expect ()
{
  local img=$1 raw=$2
  shift 2
  serve_to_raw vdix "$img" "$tmp/served.raw" "$@"
  cmp "$raw" "$tmp/served.raw"
  rm "$tmp/served.raw"
}

# qemu-io commands on the child (through the plugin) and on RAW.
both ()
{
  local img=$1 raw=$2
  shift 2
  qemu-io -f raw "$@" "$raw" >/dev/null
  nbdkit -U - "$vdix" file="$img" \
    --run "qemu-io -f raw $(printf '%q ' "$@") \"\$uri\" >/dev/null"
}

# The parent: a qemu-img image with data in most blocks.
parent=$tmp/parent.vdi
qemu-img create -q -f vdi "$parent" $(( 10 * M ))
qemu-io -f vdi -c "write -P 0x11 0 $(( 6 * M ))" \
  -c "write -P 0x22 $(( 8 * M )) $(( 2 * M ))" "$parent" >/dev/null
qemu-img convert -f vdi -O raw "$parent" "$tmp/expect.raw"
sum=$(md5sum < "$parent")

# The child takes the parent's size and names its UUIDs.
child=$tmp/child.vdi
nbdkit -U - "$vdix" file="$child" create=true create-parent="$parent" \
  --run 'nbdinfo --size "$uri"' > "$tmp/size"
test "$(cat "$tmp/size")" -eq $(( 10 * M ))
test "$($mkdiff uuid "$child" parent)" = "$($mkdiff uuid "$parent" create)"
test "$($mkdiff uuid "$child" parent-modify)" = \
     "$($mkdiff uuid "$parent" modify)"
python3 - "$child" <<'EOF'
import struct, sys
h = open(sys.argv[1], "rb").read(512)
u32 = lambda o: struct.unpack_from("<I", h, o)[0]
assert h[:40] == b"<<< Oracle VM VirtualBox Disk Image >>>\n"
assert u32(0x44) == 0x00010001 and u32(0x48) == 400 and u32(0x4c) == 4
assert u32(0x154) == 1 << 20 and u32(0x158) % (1 << 20) == 0
assert h[0x188:0x198] != bytes(16) and h[0x198:0x1a8] != bytes(16)
EOF
expect "$child" "$tmp/expect.raw"

# Partial writes (the rest of the block from the parent), across
# blocks, zeros over parent data (whole blocks: ZERO entries; partial:
# allocated), zeros over free blocks of the parent.
both "$child" "$tmp/expect.raw" \
  -c "write -P 0x33 100 1000" \
  -c "write -P 0x44 $(( 2 * M - 300 )) 600" \
  -c "write -z $(( 3 * M )) $(( 2 * M ))" \
  -c "write -z $(( 5 * M + 4096 )) 8192" \
  -c "write -z $(( 6 * M )) $(( 2 * M ))" \
  -c "write -P 0x55 $(( 10 * M - 512 )) 512"
expect "$child" "$tmp/expect.raw"
test "$(md5sum < "$parent")" = "$sum"
qemu-img check -f vdi "$parent"
$mkdiff uuid "$child" modify > /dev/null

# Trim: a written block reads as zeros afterwards, a block never
# written in the child still shows the parent.
both "$child" "$tmp/expect.raw" -c "write -P 0x66 $(( 7 * M )) $M"
nbdkit -U - "$vdix" file="$child" \
  --run "qemu-io -f raw -c 'discard $(( 7 * M )) $M' \
         -c 'discard $(( 8 * M )) $M' \"\$uri\"" >/dev/null
head -c $M /dev/zero | dd of="$tmp/expect.raw" bs=$M seek=7 conv=notrunc \
  status=none
expect "$child" "$tmp/expect.raw"

# Random writes and zeros.
cmds=$(python3 - <<'EOF'
import random
r = random.Random("vdi-diff")
size = 10 * 2**20
for i in range(40):
    n = r.choice([1, 512, 3000, 2**20, 2**20 + 5, 2 * 2**20])
    off = r.randrange(0, size - n + 1)
    if r.random() < 0.7:
        print("-c\nwrite -P %d %d %d" % (r.randrange(1, 256), off, n))
    else:
        print("-c\nwrite -z %d %d" % (off, n))
EOF
)
mapfile -t args <<< "$cmds"
both "$child" "$tmp/expect.raw" "${args[@]}"
expect "$child" "$tmp/expect.raw"
expect "$child" "$tmp/expect.raw" parent="$parent"
test "$(md5sum < "$parent")" = "$sum"

# A grandchild over the child: reads the chain, writes only itself.
gchild=$tmp/gchild.vdi
cp "$tmp/expect.raw" "$tmp/gexpect.raw"
nbdkit -U - "$vdix" file="$gchild" create=true create-parent="$child" \
  --run 'true'
csum=$(md5sum < "$child")
expect "$gchild" "$tmp/gexpect.raw"
both "$gchild" "$tmp/gexpect.raw" -c "write -P 0x77 $(( 4 * M + 1 )) 5000" \
  -c "write -z 0 $(( 2 * M ))"
expect "$gchild" "$tmp/gexpect.raw"
expect "$child" "$tmp/expect.raw"
test "$(md5sum < "$child")" = "$csum"
test "$(md5sum < "$parent")" = "$sum"
nbdkit -U - -r "$vdix" file="$gchild" --run 'nbdinfo "$uri"' |
  grep -q 'parent chain depth 2'

# Writing into the child gives it a new modification UUID: the
# grandchild no longer matches it (as VirtualBox would say).
nbdkit -U - "$vdix" file="$child" \
  --run "qemu-io -f raw -c 'write -P 1 0 512' \"\$uri\"" >/dev/null
expect_open_error vdix "$gchild" "modification UUID"
nbdkit -U - -r "$vdix" file="$gchild" ignore-parent-mismatch=true --run true

# A child with another block size than its parent's, and a static
# child, which VirtualBox does not make, is refused.
nbdkit -U - "$vdix" file="$tmp/c4.vdi" create=true create-parent="$parent" \
  create-block-size=4M \
  --run "qemu-io -f raw -c 'write -P 9 $(( 3 * M )) 10' \"\$uri\"" \
  >/dev/null
qemu-img convert -f vdi -O raw "$parent" "$tmp/c4.raw"
printf '\011%.0s' $(seq 10) |
  dd of="$tmp/c4.raw" bs=1 seek=$(( 3 * M )) conv=notrunc status=none
expect "$tmp/c4.vdi" "$tmp/c4.raw"
if nbdkit -U - "$vdix" file="$tmp/c5.vdi" create=true \
     create-parent="$parent" create-type=static --run true 2> "$tmp/err"; then
  false
fi
grep -q "cannot be static" "$tmp/err"
test ! -e "$tmp/c5.vdi"
