#!/usr/bin/env bash
# Differencing VHDX chains made with vhd-mkdiff, 3 deep, with partially
# and fully present blocks, for 512- and 4096-byte logical sectors.  The
# expectation: qemu-img's decoding of the qemu-made base plus the same
# writes applied with dd.  Then: missing parent, parent_linkage
# mismatch, parent loops.
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

check ()
{
  local img=$1 raw=$2
  shift 2
  serve_to_raw vhdx "$img" "$tmp/served.raw" "$@"
  cmp "$tmp/served.raw" "$raw"
}

# The extent containing offset OFF must be (data|zero).
extent_is ()
{
  local img=$1 off=$2 want=$3
  nbdkit -U - -r "$(plugin vhdx)" file="$img" \
    --run 'qemu-img map -f raw --output=json "$uri"' |
  jq -e --argjson o $off --arg want $want \
    '.[] | select(.start <= $o and $o < .start + .length)
         | if (.zero or (.data|not)) then "zero" else "data" end
         | . == $want'
}

for sector in 512 4096; do
  dir=$tmp/s$sector
  mkdir "$dir"
  cd "$dir"
  # Base: 24 MiB, 1 MiB blocks, data in blocks 0-2 and 20.
  qemu-img create -q -f vhdx -o block_size=1M base.vhdx 24M
  qemu-io -f vhdx -c "write -P 0x11 0 $(( 3 * M ))" \
    -c "write -P 0x12 $(( 20 * M )) 8192" base.vhdx >/dev/null
  qemu-img convert -f vhdx -O raw base.vhdx expect.raw
  # qemu cannot make 4096-byte sectors: patch the metadata (same BAT
  # layout: 24 blocks are fewer than one chunk either way).
  if [ $sector = 4096 ]; then
    "$mkdiff" vhdx-poke base.vhdx logical-sector 0 4096
    check base.vhdx expect.raw
  fi

  # Level 1: 2 MiB blocks, partial sectors, a block edge, a full block.
  "$mkdiff" vhdx c1.vhdx base.vhdx --block-size 2M --logical-sector $sector
  put c1.vhdx expect.raw 1000 700 0x21
  put c1.vhdx expect.raw $(( 2 * M - 300 )) 600 0x22
  put c1.vhdx expect.raw $(( 6 * M )) $(( 2 * M )) 0x23
  check c1.vhdx expect.raw
  # Level 2: 1 MiB blocks, reached through its relative_path.
  "$mkdiff" vhdx c2.vhdx c1.vhdx --block-size 1M --logical-sector $sector
  put c2.vhdx expect.raw 1200 100 0x31
  put c2.vhdx expect.raw $(( 4 * M - 1 )) 2 0x32
  put c2.vhdx expect.raw $(( 9 * M + 4095 )) 4098 0x33
  check c2.vhdx expect.raw
  # Level 3: 32 MiB blocks (one block for the whole disk).
  "$mkdiff" vhdx c3.vhdx c2.vhdx --block-size 32M --logical-sector $sector
  put c3.vhdx expect.raw 1 1 0x41
  put c3.vhdx expect.raw $(( 24 * M - 513 )) 513 0x42
  check c3.vhdx expect.raw
  cd /
  check "$dir/c3.vhdx" "$dir/expect.raw"
  cd "$dir"
  # Where no child has the data, the base's allocation shows.
  extent_is c3.vhdx $(( 20 * M + 10 )) data
  extent_is c3.vhdx $(( 15 * M )) zero
  extent_is c3.vhdx $(( 7 * M )) data

  # Missing parent: refused, naming the names tried.
  mv c1.vhdx c1.moved
  expect_open_error vhdx c2.vhdx 'not found'
  grep -q 'c1\.vhdx' "$tmp/err"
  mv c1.moved c1.vhdx

  # parent_linkage mismatch: refused unless ignore-parent-mismatch=true.
  cp expect.raw expect-bad.raw
  "$mkdiff" vhdx bad.vhdx c3.vhdx --logical-sector $sector --bad-linkage
  put bad.vhdx expect-bad.raw 4096 4096 0x51
  expect_open_error vhdx bad.vhdx 'parent.*mismatch|mismatch.*parent'
  check bad.vhdx expect-bad.raw ignore-parent-mismatch=true

  # Loops: itself, and two children naming each other.
  "$mkdiff" vhdx self.vhdx base.vhdx --logical-sector $sector \
    --parent-name self.vhdx
  expect_open_error vhdx self.vhdx 'loop' ignore-parent-mismatch=true
  "$mkdiff" vhdx a.vhdx base.vhdx --logical-sector $sector --parent-name b.vhdx
  "$mkdiff" vhdx b.vhdx base.vhdx --logical-sector $sector --parent-name a.vhdx
  expect_open_error vhdx a.vhdx 'loop' ignore-parent-mismatch=true
  cd /
  rm -rf "$dir"
done
