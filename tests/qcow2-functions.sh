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
