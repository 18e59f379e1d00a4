# Shell functions for the VHDX write tests, sourced after functions.sh
# and "set -e -x".  Skips the test without the tools they all need; sets
# $tmp, $tool (tests/vhdx-tool), $xdisk_check (runs the check op), $P
# (the vhdx plugin) and $M (1 MiB).

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir
tool=$top_builddir/tests/vhdx-tool
xdisk_check=$top_builddir/tests/xdisk-check
requires test -x "$tool"
requires test -x "$xdisk_check"
P=$(plugin vhdx)
M=$(( 1 << 20 ))

# expect_fail COMMAND...: it fails cleanly (functions.sh's expect_failure).
expect_fail () { expect_failure "$tmp/expect-fail.err" "$@"; }

# Fill the array ops with N qemu-io commands for a disk of SIZE bytes:
# unaligned writes anywhere, some across 1 MiB boundaries, some of 2 MiB
# on a boundary, zeros (some of whole MiBs).
random_ops ()
{
  local n=$1 size=$2 i off
  ops=()
  for i in $(seq $n); do
    off=$(( (RANDOM * 32768 + RANDOM) % (size - 3 * M) ))
    case $(( RANDOM % 7 )) in
      0) ops+=(-c "write -z $off $(( RANDOM % 100000 + 1 ))") ;;
      1) ops+=(-c "write -z $(( off / M * M )) $(( (RANDOM % 3 + 1) * M ))") ;;
      2) ops+=(-c "write -P $(( RANDOM % 255 + 1 )) $(( off / M * M + M - 700 )) 1400") ;;
      3) ops+=(-c "write -P $(( RANDOM % 255 + 1 )) $(( off / M * M )) $(( 2 * M ))") ;;
      *) ops+=(-c "write -P $(( RANDOM % 255 + 1 )) $off $(( RANDOM % 200000 + 1 ))") ;;
    esac
  done
}

# A raw test disk of SIZE bytes at OUT with data in some places, holes
# and zeros in others (deterministic: RANDOM is seeded by the caller,
# and read only here, in the caller's shell: bash reseeds it in a
# subshell, as the left of a pipe or a $(...) is).
make_raw ()
{
  local out=$1 size=$2 i off len seed
  truncate -s "$size" "$out"
  for i in 1 2 3 4 5 6; do
    off=$(( (RANDOM * 32768 + RANDOM) % (size - 3000000) / 512 * 512 ))
    len=$(( (RANDOM % 3000) * 1000 + 1 )) seed=$RANDOM
    random_bytes $seed $len |
      dd of="$out" bs=64K oflag=seek_bytes seek=$off conv=notrunc status=none
  done
}

# create_from RAW IMG [PARAM=VALUE...]: create IMG (its size RAW's) with
# the plugin and copy RAW into it with nbdcopy.
create_from ()
{
  local raw=$1 img=$2
  shift 2
  nbdkit -U - "$P" file="$img" create=true create-size="$(stat -c %s "$raw")" \
    "$@" --run "nbdcopy --synchronous '$raw' \"\$uri\""
}

# info IMG FIELD: a field of vhdx-tool info (the first match).
info ()
{
  "$tool" info "$1" | awk -v f="$2" '$1 == f { $1 = ""; print substr($0, 2); exit }'
}

# The structure an image written by this plugin must have: the log empty
# (LogGuid zero), the regions on 1 MiB boundaries, every BAT entry in a
# state the kind allows, present blocks 1 MiB aligned, the check op clean.
check_structure ()
{
  local img=$1 kind=$2 bs
  "$xdisk_check" "$img"
  test "$(info "$img" log_guid)" = 00000000-0000-0000-0000-000000000000
  "$tool" info "$img" |
    awk '$1 == "log" || $1 == "metadata" || ($1 == "bat" && NF == 3) {
           if ($2 % 1048576) { print "misaligned: " $0; exit 1 } }
         $1 == "bat" && NF == 4 && $4 % 1048576 { print "block: " $0; exit 1 }'
  bs=$(info "$img" block_size)
  case $kind in
    fixed)
      test "$(info "$img" leave_blocks_allocated)" = 1
      # every payload entry FULLY_PRESENT (6) at its preallocated place
      "$tool" info "$img" | awk -v bs=$bs -v cr=$(info "$img" chunk_ratio) '
        $1 == "bat" && NF == 4 {
          if ($2 % (cr + 1) == cr) { print "sector bitmap present"; exit 1 }
          if ($3 != 6) { print "not fully present: " $0; exit 1 }
          if (first == "") first = $4
          else if ($4 != first + n * bs) { print "out of place: " $0; exit 1 }
          n++ }'
      ;;
    dynamic)
      test "$(info "$img" leave_blocks_allocated)" = 0
      "$tool" info "$img" | awk '$1 == "bat" && NF == 4 && $3 != 6 && $3 != 2 && $3 != 3 {
          print "state: " $0; exit 1 }'
      ;;
  esac
}
