# Helpers for the qcow2 tests, sourced after functions.sh.

# qcow2_io IMG CMD...: run qemu-io commands on a qcow2 image.
qcow2_io ()
{
  local img=$1 args=() c
  shift
  for c in "$@"; do args+=(-c "$c"); done
  qemu-io -f qcow2 "${args[@]}" "$img" >/dev/null
}

# Patterns at cluster and subcluster boundaries for an image of SIZE
# with clusters of CLUSTER bytes, plus zeroed and discarded ranges.
qcow2_patterns ()
{
  local img=$1 cluster=$2 size=$3
  qcow2_io "$img" \
    "write -P 0x11 0 512" \
    "write -P 0x22 $(( cluster - 512 )) 1024" \
    "write -P 0x33 $(( 3 * cluster + 1024 )) $(( 2 * cluster + 3000 ))" \
    "write -P 0x44 $(( size - 512 )) 512" \
    "write -z $(( 8 * cluster )) $(( 2 * cluster ))" \
    "write -P 0x55 $(( size / 2 )) $(( 4 * cluster ))" \
    "write -z $(( size / 2 + cluster )) $(( cluster ))" \
    "discard $(( size / 2 + 2 * cluster )) $(( cluster ))"
}

# Every byte and the map of IMG compared with qemu-img's decoding.
qcow2_check ()
{
  local img=$1
  shift
  compare_with_qemu qcow2x "$img" qcow2 "$@"
  compare_map_with_qemu qcow2x "$img" qcow2 "$@"
}

# Like qcow2_check, for chains over VHD or VHDX, where the plugin maps
# zero sectors inside allocated blocks that qemu maps as data.
qcow2_check_loosely ()
{
  local img=$1
  shift
  compare_with_qemu qcow2x "$img" qcow2 "$@"
  compare_map_loosely qcow2x "$img" qcow2 "$@"
}

# Turn the backing format header extension of IMG into an unknown
# extension, which readers ignore: the image no longer records its
# backing format (qemu-img 7.2 refuses to create such an image).
qcow2_drop_backing_format ()
{
  local img=$1 off
  off=$(head -c 4096 "$img" | grep -obUaP '\xe2\x79\x2a\xca' | head -1 |
        cut -d: -f1)
  [ -n "$off" ]
  printf '\x7f\x00\x00\x01' |
    dd of="$img" bs=1 seek="$off" conv=notrunc status=none
}
