# Shell functions shared by the differencing VHD and VHDX tests
# (sourced after functions.sh, with $mkdiff set to tests/vhd-mkdiff).

# put CHILD RAW OFF LEN BYTE: write BYTE x LEN at OFF into CHILD
# (through vhd-mkdiff) and into the expected raw image RAW (through dd).
# Untouched bytes of a sector that becomes present come from RAW, which
# is what the parent serves.
put ()
{
  local child=$1 raw=$2 off=$3 len=$4 byte=$5
  "$mkdiff" write "$child" $off $len $byte --fill-from "$raw"
  head -c $len /dev/zero | tr '\0' "\\$(printf %03o $byte)" |
    dd of="$raw" bs=64K oflag=seek_bytes seek=$off conv=notrunc status=none
}
