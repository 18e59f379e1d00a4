# Shell functions shared by the VDI tests (sourced after functions.sh).
# $mkdiff runs tests/vdi-mkdiff.py.

mkdiff="python3 $srcdir/vdi-mkdiff.py"

# put IMG RAW OFF LEN BYTE: write BYTE x LEN at OFF into IMG (through
# vdi-mkdiff.py) and into the expected raw image RAW (through dd).  A
# block written for the first time gets its other bytes from RAW, which
# is what the parent serves.
put ()
{
  local img=$1 raw=$2 off=$3 len=$4 byte=$5
  $mkdiff write "$img" $off $len $byte --fill-from "$raw"
  head -c $len /dev/zero | tr '\0' "\\$(printf %03o $byte)" |
    dd of="$raw" bs=64K oflag=seek_bytes seek=$off conv=notrunc status=none
}

# zero_block IMG RAW BLOCK BLOCK_SIZE: make BLOCK a zero block.
zero_block ()
{
  local img=$1 raw=$2 block=$3 bs=$4 size
  $mkdiff zero "$img" $block
  size=$(stat -c %s "$raw")
  head -c $bs /dev/zero |
    dd of="$raw" bs=$bs seek=$block conv=notrunc status=none
  truncate -s $size "$raw"
}

# expect_raw IMG RAW [PARAMS...]: the plugin serves RAW for IMG.
expect_raw ()
{
  local img=$1 raw=$2
  shift 2
  serve_to_raw vdix "$img" "$tmp/served.raw" "$@"
  cmp "$raw" "$tmp/served.raw"
  rm -f "$tmp/served.raw"
}
