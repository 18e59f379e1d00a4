#!/usr/bin/env bash
# Differencing VHD chains made with vhd-mkdiff, 3 deep, each locator kind
# in turn (a Windows absolute path in W2ku that must fall back to the
# child's directory), data at every level including partial sectors.
# The expectation is computed independently: qemu-img's decoding of the
# (dynamic, qemu-made) base plus the same writes applied with dd.
# Then the errors: missing parent, parent ID mismatch, parent loops.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
make_tmpdir
mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$mkdiff"
M=$(( 1 << 20 ))

source "$srcdir/vhd-functions.sh"

# Check that every extent the plugin calls zero is zero in RAW, and that
# the extent containing offset OFF... is (data|zero) as listed.
check_map ()
{
  local img=$1 raw=$2
  shift 2
  nbdkit -U - -r "$(plugin vhdx)" file="$img" \
    --run 'qemu-img map -f raw --output=json "$uri"' > "$tmp/map.json"
  jq -r '.[] | select(.zero or (.data|not)) | "\(.start) \(.length)"' \
    "$tmp/map.json" |
  while read start length; do
    dd if="$raw" iflag=skip_bytes,count_bytes skip=$start count=$length \
       status=none | cmp -s - <(head -c $length /dev/zero)
  done
  while [ $# -gt 0 ]; do
    jq -e --argjson o "$1" --arg want "$2" \
      '.[] | select(.start <= $o and $o < .start + .length)
           | if (.zero or (.data|not)) then "zero" else "data" end
           | . == $want' "$tmp/map.json"
    shift 2
  done
}

check ()
{
  local img=$1 raw=$2
  shift 2
  serve_to_raw vhdx "$img" "$tmp/served.raw" "$@"
  cmp "$tmp/served.raw" "$raw"
}

# Base: 16 MiB dynamic VHD (2 MiB blocks), data in blocks 0 and 3 only.
mkdir "$tmp/vms"
cd "$tmp/vms"
qemu-img create -q -f vpc -o force_size=on base.vhd 16M
qemu-io -f vpc -c "write -P 0x11 0 $M" -c "write -P 0xaa $(( 6 * M + 100 )) 5000" \
  base.vhd >/dev/null
qemu-img convert -f vpc -O raw base.vhd "$tmp/expect.raw"

# Level 1: W2ru (relative), 1 MiB blocks: partial sectors, a block edge.
"$mkdiff" vhd c1.vhd base.vhd --block-size 1M --locator w2ru
put c1.vhd "$tmp/expect.raw" 1000 700 0x22
put c1.vhd "$tmp/expect.raw" $(( M - 300 )) 600 0x23
put c1.vhd "$tmp/expect.raw" $(( 2 * M + 512 )) 512 0x24
check c1.vhd "$tmp/expect.raw"

# Level 2: W2ku with a Windows absolute path: falls back to c1.vhd in
# the child's directory.  Default 2 MiB blocks.
"$mkdiff" vhd c2.vhd c1.vhd --locator w2ku --parent-name 'C:\VMs\c1.vhd'
put c2.vhd "$tmp/expect.raw" 1200 100 0x33
put c2.vhd "$tmp/expect.raw" $(( 4 * M - 1 )) 2 0x34
put c2.vhd "$tmp/expect.raw" $(( 10 * M )) $(( 2 * M )) 0x35
check c2.vhd "$tmp/expect.raw"

# Level 3: Mac X (file:// URL, absolute), 512 KiB blocks.
"$mkdiff" vhd c3.vhd c2.vhd --locator macx --block-size 512K
put c3.vhd "$tmp/expect.raw" 1 1 0x44
put c3.vhd "$tmp/expect.raw" $(( 16 * M - 513 )) 513 0x45
check c3.vhd "$tmp/expect.raw"
# Where c3, c2, c1 are unallocated, the base's allocation shows: block 3
# of the base has data, blocks 5 (10-12M is c2's) and 14-15M nobody's.
check_map c3.vhd "$tmp/expect.raw" \
  $(( 6 * M + 100 )) data  $(( 10 * M + 5 )) data  $(( 13 * M )) zero \
  $(( 8 * M )) zero  0 data

# The whole chain served from another directory works too (locators
# are resolved against the child's directory, not the cwd).
cd /
check "$tmp/vms/c3.vhd" "$tmp/expect.raw"
cd "$tmp/vms"

# All locators at once.
cp "$tmp/expect.raw" "$tmp/expect-all.raw"
"$mkdiff" vhd all.vhd c3.vhd --locator all
put all.vhd "$tmp/expect-all.raw" 5555 5555 0x55
check all.vhd "$tmp/expect-all.raw"

# Missing parent: refused, naming what was tried.
mv c2.vhd c2.moved
expect_open_error vhdx c3.vhd 'not found'
grep -q 'c2\.vhd' "$tmp/err"
mv c2.moved c2.vhd
mv c1.vhd c1.moved
expect_open_error vhdx c2.vhd 'not found'
grep -q 'c1\.vhd' "$tmp/err"
mv c1.moved c1.vhd

# Parent ID mismatch: refused; accepted with ignore-parent-mismatch=true.
cp "$tmp/expect.raw" "$tmp/expect-bad.raw"
"$mkdiff" vhd bad.vhd c3.vhd --bad-parent-id
put bad.vhd "$tmp/expect-bad.raw" 777 1 0x66
expect_open_error vhdx bad.vhd 'parent.*mismatch|mismatch.*parent'
check bad.vhd "$tmp/expect-bad.raw" ignore-parent-mismatch=true
expect_open_error vhdx bad.vhd 'mismatch' ignore-parent-mismatch=false

# Parent loops: a child whose parent is itself, and two children
# pointing at each other.  (Their parent IDs cannot match, so ask the
# plugin to ignore that and reach the loop.)
"$mkdiff" vhd self.vhd base.vhd --locator w2ru --parent-name self.vhd
expect_open_error vhdx self.vhd 'loop' ignore-parent-mismatch=true
expect_open_error vhdx self.vhd 'loop|mismatch'
"$mkdiff" vhd a.vhd base.vhd --locator w2ru --parent-name b.vhd
"$mkdiff" vhd b.vhd base.vhd --locator w2ru --parent-name a.vhd
expect_open_error vhdx a.vhd 'loop' ignore-parent-mismatch=true
expect_open_error vhdx b.vhd 'loop' ignore-parent-mismatch=true
