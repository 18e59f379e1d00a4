#!/usr/bin/env bash
# VHDX log replay beyond the one entry test-vhdx-write-crash.sh makes:
# logs written by vhdx-mklog.py from the specification (not by this
# project's writer) into qemu-made images -- several pending entries
# (data and zero descriptors, later ones overwriting earlier ones, one
# allocating a new block through the BAT), a sequence that breaks (only
# the entries before the break count), and a sequence that wraps around
# the end of the log with an older sequence left in it.  qemu replays
# each log too (on a writable open of a copy): the expectation is
# checked against it before the plugin is, where qemu follows the
# specification (it does not for the broken and the wrapped sequence).  The plugin must serve the
# replayed disk read-only without touching the file, then replay it
# into the file at the first write: every byte compared, the log empty
# afterwards, qemu-img check and the check op clean.
source "$srcdir/functions.sh"
set -e -x -o pipefail
source "$srcdir/vhdx-write-functions.sh"
requires /usr/bin/python3 --version
mklog="/usr/bin/python3 $srcdir/vhdx-mklog.py"
zero_guid=00000000-0000-0000-0000-000000000000
L=$M                            # the log's length

# replay NAME APPLY ENTRY...: a fresh image, the log ENTRY..., the
# entries numbered APPLY in the expectation; then every check (with
# qemu's replay unless $qemu_replays is "no").
qemu_replays=yes
replay ()
{
  local name=$1 apply=$2 img=$tmp/$1.vhdx sum
  shift 2
  rm -f "$img"
  qemu-img create -q -f vhdx -o block_size=1M,log_size=1M "$img" $(( 8 * M ))
  qemu-io -f vhdx -c "write -P 0x11 0 4M" -c "write -P 0x12 6M 4096" \
    "$img" >/dev/null
  qemu-img convert -f vhdx -O raw "$img" "$tmp/$name.raw"
  $mklog log "$img" --expect "$tmp/$name.raw" --apply "$apply" "$@"
  test "$(info "$img" log_guid)" != $zero_guid
  # qemu's replay, in a copy.
  if [ $qemu_replays = yes ]; then
    cp "$img" "$tmp/qemu.vhdx"
    qemu-io -f vhdx -c 'read 0 512' "$tmp/qemu.vhdx" >/dev/null
    qemu-img compare -q -f vhdx -F raw "$tmp/qemu.vhdx" "$tmp/$name.raw"
  fi
  # The plugin's, read-only: the file unchanged.
  sum=$(md5sum < "$img")
  serve_to_raw vhdx "$img" "$tmp/back.raw"
  cmp "$tmp/$name.raw" "$tmp/back.raw"
  test "$(md5sum < "$img")" = "$sum"
  # ... then into the file, with a write over replayed data.
  nbdkit -U - "$P" file="$img" \
    --run "qemu-io -f raw -c 'write -P 0x77 $(( M - 1000 )) 9000' \$uri" >/dev/null
  qemu-io -f raw -c "write -P 0x77 $(( M - 1000 )) 9000" "$tmp/$name.raw" >/dev/null
  test "$(info "$img" log_guid)" = $zero_guid
  "$xdisk_check" "$img"
  qemu-img check -q -f vhdx "$img"
  qemu-img compare -q -f vhdx -F raw "$img" "$tmp/$name.raw"
  serve_to_raw vhdx "$img" "$tmp/back.raw"
  cmp "$tmp/$name.raw" "$tmp/back.raw"
}

# The payload blocks' places in the file (qemu's layout: after the BAT
# and metadata regions), and where a new block goes: the file's end.
mkbat ()
{
  qemu-img create -q -f vhdx -o block_size=1M,log_size=1M "$tmp/b.vhdx" $(( 8 * M ))
  qemu-io -f vhdx -c "write -P 0x11 0 4M" -c "write -P 0x12 6M 4096" \
    "$tmp/b.vhdx" >/dev/null
  $mklog bat "$tmp/b.vhdx" > "$tmp/bat"
  end=$(stat -c %s "$tmp/b.vhdx")
}
mkbat
p() { awk -v i=$1 '$1 == i { print $2 }' "$tmp/bat"; }
P0=$(p 0) P1=$(p 1) P2=$(p 2) P3=$(p 3) P6=$(p 6)
test -n "$P6"

# Four entries laid end to end (12 KiB, 12 KiB, 20 KiB, 4 KiB), all
# applied in order: E2 overwrites a sector E1 wrote, E3 allocates block
# 5 at the end of the file (its last sector written too: qemu 7.2 does
# not extend the file to LastFileOffset), E4 zeros what E1 wrote in
# block 1.
replay several 0,1,2,3 \
  "0:10:0:d$P0=0x41,d$(( P1 + 4096 ))=0x42,z$(( P2 + 8192 ))=16384" \
  "12288:11:0:d$P0=0x43,d$(( P3 + 12288 ))=0x44" \
  "24576:12:0:b5=$end,d$end=0x45,d$(( end + 8192 ))=0x46,d$(( end + M - 4096 ))=0x47" \
  "45056:13:0:z$(( P1 + 4096 ))=4096,z$(( P6 ))=4096"

# A break in the sequence numbers at the third entry: the first two are
# the active sequence (the newest entry that its tail reaches through
# consecutive numbers), the rest is ignored.  qemu 7.2 replays the last
# entry alone here, though its tail does not lead to it: not compared.
qemu_replays=no
replay broken 0,1 \
  "0:20:0:d$P0=0x51,z$(( P1 + 4096 ))=8192" \
  "8192:21:0:d$(( P2 + 4096 ))=0x52" \
  "16384:25:0:d$P3=0x53" \
  "24576:26:0:z$P0=4096"
qemu_replays=yes
# Entries of an older sequence after the active one: ignored.
replay stale 0,1 \
  "0:40:0:d$P0=0x71,z$(( P1 + 4096 ))=8192" \
  "8192:41:0:d$(( P2 + 4096 ))=0x72" \
  "16384:7:16384:d$P3=0x73" \
  "24576:8:16384:z$P0=4096"

# A sequence that wraps: its first entry 12 KiB before the log's end,
# its second over the end (header in the last 4 KiB, data in the first),
# its third after that; an older sequence left in the middle.  qemu 7.2
# replays the third entry alone (the first valid entry it meets from the
# log's start, though its tail leads elsewhere): not compared.
qemu_replays=no
replay wrapped 1,2,3 \
  "65536:5:65536:d$P0=0x61" \
  "$(( L - 12288 )):30:$(( L - 12288 )):d$P1=0x62" \
  "$(( L - 4096 )):31:$(( L - 12288 )):d$(( P2 + 4096 ))=0x63" \
  "4096:32:$(( L - 12288 )):d$P3=0x64,z$P6=4096"
