# Shell functions for the VHDX write tests (sourced after functions.sh,
# with $tool set to tests/vhdx-tool).

# A raw test disk of SIZE bytes at OUT with data in some places, holes
# and zeros in others (deterministic: RANDOM is seeded by the caller).
make_raw ()
{
  local out=$1 size=$2 i off
  truncate -s "$size" "$out"
  for i in 1 2 3 4 5 6; do
    off=$(( (RANDOM * 32768 + RANDOM) % (size - 3000000) / 512 * 512 ))
    head -c $(( (RANDOM % 3000) * 1000 + 1 )) /dev/urandom |
      dd of="$out" bs=64K oflag=seek_bytes seek=$off conv=notrunc status=none
  done
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
  "$tool" check "$img"
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
