#!/usr/bin/env bash
# Malformed VHD and VHDX files: each refused with one clear error naming
# the structure (the words of the plugin's error table), never a crash;
# damage with a valid backup copy (VHD footer, one VHDX header) is
# survived.  Errors found only when reading (BAT entries, which are
# checked page by page) may come at open or at read: expect_error takes
# both.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir
mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$mkdiff"

# Serving IMG fails (at open or while reading it all) with an error
# matching PATTERN and without a crash.
expect_error ()
{
  local img=$1 pattern=$2
  shift 2
  expect_failure "$tmp/err" nbdkit -U - -r "$(plugin vhdx)" file="$img" "$@" \
    --run 'nbdcopy --synchronous "$uri" - >/dev/null'
  grep -Eq -- "$pattern" "$tmp/err"
}

# Store the byte string PRINTF_FMT at OFFSET of FILE.
poke_bytes ()
{
  printf "$3" | dd of="$1" bs=1 seek=$2 conv=notrunc status=none
}

# ---- VHD ----
qemu-img create -q -f vpc -o subformat=dynamic,force_size=on "$tmp/d.vhd" 8M
qemu-io -f vpc -c 'write -P 0x5a 0 3M' "$tmp/d.vhd" >/dev/null
qemu-img create -q -f vpc -o subformat=fixed,force_size=on "$tmp/f.vhd" 8M
qemu-io -f vpc -c 'write -P 0x5a 0 3M' "$tmp/f.vhd" >/dev/null
end=$(( $(stat -c %s "$tmp/d.vhd") - 512 ))
fend=$(( $(stat -c %s "$tmp/f.vhd") - 512 ))
bat=$(od -An -tu8 --endian=big -j $(( 512 + 16 )) -N8 "$tmp/d.vhd" | tr -d ' ')

# Bad footer checksum at the end of a dynamic disk: the copy at 0 is used.
cp "$tmp/d.vhd" "$tmp/x.vhd"
poke_bytes "$tmp/x.vhd" $(( end + 64 )) '\x12\x34'
compare_with_qemu vhdx "$tmp/x.vhd" vpc
# ... and both copies bad: refused.
poke_bytes "$tmp/x.vhd" 64 '\x12\x34'
expect_open_error vhdx "$tmp/x.vhd" 'checksum'
grep -q footer "$tmp/err"

# Fixed disk, bad footer checksum: no copy to fall back to.
cp "$tmp/f.vhd" "$tmp/x.vhd"
poke_bytes "$tmp/x.vhd" $(( fend + 64 )) '\x12\x34'
expect_open_error vhdx "$tmp/x.vhd" 'checksum'
grep -q footer "$tmp/err"

# Bad dynamic header checksum.
cp "$tmp/d.vhd" "$tmp/x.vhd"
poke_bytes "$tmp/x.vhd" $(( 512 + 36 )) '\x12\x34'
expect_open_error vhdx "$tmp/x.vhd" 'checksum'
grep -q 'dynamic header' "$tmp/err"

# BAT entry past the end of the file.
cp "$tmp/d.vhd" "$tmp/x.vhd"
"$mkdiff" poke "$tmp/x.vhd" $bat 0x00ffff00
expect_error "$tmp/x.vhd" 'beyond the end of the file'
grep -q BAT "$tmp/err"

# BAT entries pointing at the footer copy (sector 0) and at the BAT
# itself: the image's own metadata must not be served as data.
for sector in 0 $(( bat / 512 )); do
  cp "$tmp/d.vhd" "$tmp/x.vhd"
  "$mkdiff" poke "$tmp/x.vhd" $bat $sector
  expect_error "$tmp/x.vhd" 'overlaps'
  grep -q BAT "$tmp/err"
done

# Block sizes: not a power of 2, too small, too large, zero.
for bs in 3000000 3145728 256 0 $(( 512 << 20 )) 2147483648; do
  cp "$tmp/d.vhd" "$tmp/x.vhd"
  "$mkdiff" poke "$tmp/x.vhd" $(( 512 + 32 )) $bs
  "$mkdiff" fix-dyn-header "$tmp/x.vhd"
  expect_open_error vhdx "$tmp/x.vhd" 'block size'
done

# BAT larger than the file (max table entries huge).
cp "$tmp/d.vhd" "$tmp/x.vhd"
"$mkdiff" poke "$tmp/x.vhd" $(( 512 + 28 )) 0xffffffff
"$mkdiff" fix-dyn-header "$tmp/x.vhd"
expect_error "$tmp/x.vhd" 'BAT|table|beyond|size'

# Truncated dynamic disk: end footer gone, data blocks cut off.
cp "$tmp/d.vhd" "$tmp/x.vhd"
truncate -s $(( 2 << 20 )) "$tmp/x.vhd"
expect_error "$tmp/x.vhd" 'beyond the end of the file'
truncate -s 1000 "$tmp/x.vhd"
expect_error "$tmp/x.vhd" 'beyond the end of the file|not a VHD or VHDX'
truncate -s 0 "$tmp/x.vhd"
expect_open_error vhdx "$tmp/x.vhd" 'not a VHD or VHDX|empty|too small'

# Wrong signatures.
cp "$tmp/d.vhd" "$tmp/x.vhd"
poke_bytes "$tmp/x.vhd" 0 'Conectix'
poke_bytes "$tmp/x.vhd" $end 'Conectix'
expect_open_error vhdx "$tmp/x.vhd" 'not a VHD or VHDX'
random_bytes 1 1M > "$tmp/x.vhd"
expect_open_error vhdx "$tmp/x.vhd" 'not a VHD or VHDX'
cp "$tmp/d.vhd" "$tmp/x.vhd"
poke_bytes "$tmp/x.vhd" 512 'cxSparse'
expect_open_error vhdx "$tmp/x.vhd" 'dynamic header'

# ---- VHDX ----
qemu-img create -q -f vhdx -o block_size=1M "$tmp/d.vhdx" 16M
qemu-io -f vhdx -c 'write -P 0x5a 0 3M' -c 'write -P 0xa5 5M 512' \
  "$tmp/d.vhdx" >/dev/null

# One header bad (either): the other is used.
for h in 0x10000 0x20000; do
  cp "$tmp/d.vhdx" "$tmp/x.vhdx"
  poke_bytes "$tmp/x.vhdx" $(( h + 100 )) 'x'
  compare_with_qemu vhdx "$tmp/x.vhdx" vhdx
done
# Both bad.
poke_bytes "$tmp/x.vhdx" $(( 0x10000 + 100 )) 'x'
expect_open_error vhdx "$tmp/x.vhdx" 'checksum'
grep -q header "$tmp/err"

# Region table CRC, both copies.
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
poke_bytes "$tmp/x.vhdx" $(( 0x30000 + 4 )) '\x01'
poke_bytes "$tmp/x.vhdx" $(( 0x40000 + 4 )) '\x01'
expect_open_error vhdx "$tmp/x.vhdx" 'checksum'
grep -q 'region table' "$tmp/err"

# A region (entry 0's file offset) moved to 0, onto the headers, CRCs right.
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
for rt in 0x30000 0x40000; do
  poke_bytes "$tmp/x.vhdx" $(( rt + 16 + 16 )) '\x00\x00\x00\x00\x00\x00\x00\x00'
  "$mkdiff" fix-crc "$tmp/x.vhdx" $rt 65536
done
expect_open_error vhdx "$tmp/x.vhdx" 'overlaps'

# Bad metadata: block size 3 MiB, 512 KiB, 512 MiB; logical sector 1000.
for bs in $(( 3 << 20 )) $(( 512 << 10 )) $(( 512 << 20 )) 0; do
  cp "$tmp/d.vhdx" "$tmp/x.vhdx"
  "$mkdiff" vhdx-poke "$tmp/x.vhdx" block-size 0 $bs
  expect_open_error vhdx "$tmp/x.vhdx" 'block size'
done
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
"$mkdiff" vhdx-poke "$tmp/x.vhdx" logical-sector 0 1000
expect_open_error vhdx "$tmp/x.vhdx" 'sector'
# Virtual size 0 and absurdly large (> 64 TiB).
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
"$mkdiff" vhdx-poke "$tmp/x.vhdx" virtual-size 0 LE64:$(( 1 << 62 ))
expect_open_error vhdx "$tmp/x.vhdx" 'size'

# BAT entry past the end of the file: block 0 FULLY_PRESENT at 4 GiB.
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
"$mkdiff" vhdx-poke "$tmp/x.vhdx" bat 0 LE64:$(( (4096 << 20) | 6 ))
expect_error "$tmp/x.vhdx" 'beyond the end of the file'
grep -q BAT "$tmp/err"
# A BAT entry pointing at the headers.
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
"$mkdiff" vhdx-poke "$tmp/x.vhdx" bat 0 LE64:6
expect_error "$tmp/x.vhdx" 'BAT'
# An invalid payload state (4).
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
"$mkdiff" vhdx-poke "$tmp/x.vhdx" bat 0 LE64:4
expect_error "$tmp/x.vhdx" 'BAT|state'

# Truncated VHDX: in the middle of the data, and inside the headers.
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
truncate -s $(( $(stat -c %s "$tmp/x.vhdx") - (1 << 20) )) "$tmp/x.vhdx"
expect_error "$tmp/x.vhdx" 'beyond the end of the file'
truncate -s 100000 "$tmp/x.vhdx"
expect_error "$tmp/x.vhdx" 'beyond the end of the file|header'

# Wrong file identifier.
cp "$tmp/d.vhdx" "$tmp/x.vhdx"
poke_bytes "$tmp/x.vhdx" 0 'vhdxFILE'
expect_open_error vhdx "$tmp/x.vhdx" 'not a VHD or VHDX'

# A small deterministic fuzz: random bytes in the metadata areas.  Each
# image must be served or refused cleanly, never crash or hang.
RANDOM=4242
# fuzz IMG WINDOW BASE...: poke 4 random bytes, each at a random BASE
# plus a random offset below WINDOW.
fuzz ()
{
  local img=$1 window=$2 i rc base
  shift 2
  local bases=("$@")
  for i in $(seq 1 16); do
    cp "$img" "$tmp/fz"
    for n in 1 2 3 4; do
      # RANDOM read here, not in the $(...) or the pipe below: bash
      # reseeds it in a subshell.
      base=${bases[$(( RANDOM % ${#bases[@]} ))]}
      byte=$(( RANDOM % 256 )) off=$(( base + RANDOM % window ))
      printf "\\x$(printf %02x $byte)" |
        dd of="$tmp/fz" bs=1 seek=$off conv=notrunc status=none
    done
    rc=0
    timeout $(( 60 * timeout_scale )) \
      nbdkit -U - -r "$(plugin vhdx)" file="$tmp/fz" \
      --run 'nbdcopy --synchronous "$uri" - >/dev/null' 2> "$tmp/err" ||
      rc=$?
    cat "$tmp/err"
    case $rc in 0|1) ;; *) echo "$0: fuzz case $i: exit $rc"; exit 1 ;; esac
    check_not_crashed $rc "fuzz case $i" "$tmp/err"
  done
}
fuzz "$tmp/d.vhd" 2048 0 512 $bat $end
vbat=$(od -An -tu8 -j $(( 0x30000 + 16 + 16 )) -N8 "$tmp/d.vhdx" | tr -d ' ')
vmeta=$(od -An -tu8 -j $(( 0x30000 + 48 + 16 )) -N8 "$tmp/d.vhdx" | tr -d ' ')
fuzz "$tmp/d.vhdx" 256 0x10000 0x20000 0x30000 0x40000 $vbat $vmeta \
  $(( vmeta + 0x10000 ))
