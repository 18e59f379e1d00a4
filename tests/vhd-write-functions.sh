# Shell functions of the VHD write tests (sourced after functions.sh,
# with $p set to the vhdx plugin and $check to the structure check).

# be FILE OFFSET LENGTH: the big-endian number stored there.
be ()
{
  echo $(( 16#$(od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n') ))
}
field ()
{
  dd if="$1" bs=1 skip="$2" count="$3" status=none
}

# The plugin's view of IMG, read-only, into OUT.
plugin_read ()
{
  nbdkit -r -U - "$p" file="$1" --run "nbdcopy \$uri $2"
}

# gen_ops SEED SIZE BLOCK N TRIMS: N qemu-io commands (unaligned writes
# near and across block boundaries, zeroes, and trims if TRIMS=1).
gen_ops ()
{
  local size=$2 block=$3 n=$4 trims=$5 i off len kind
  RANDOM=$1
  for (( i = 0; i < n; i++ )); do
    if (( RANDOM % 2 )); then
      off=$(( (RANDOM * 32768 + RANDOM) % size ))
    else
      off=$(( (RANDOM % (size / block + 1)) * block - RANDOM % 3000 ))
      (( off < 0 )) && off=0
    fi
    (( off >= size )) && off=$(( size - 1 ))
    len=$(( RANDOM % 70000 + 1 ))
    (( RANDOM % 8 == 0 )) && len=$(( block + RANDOM ))
    (( off + len > size )) && len=$(( size - off ))
    kind=$(( RANDOM % 10 ))
    if (( kind < 7 )); then
      echo "write -P $(( RANDOM % 255 + 1 )) $off $len"
    elif (( kind < 9 )); then
      echo "write -z $off $len"
    elif (( trims )); then
      echo "discard $off $len"
    else
      echo "write -z -u $off $len"
    fi
  done
}

# apply TARGET FMT OPS_FILE: run the commands with qemu-io (which reads
# them from stdin) and fail if any failed.
apply_ops ()
{
  qemu-io -f "$2" "$1" < "$3" > "$3.out" 2>&1
  refute_grep "fail|error" "$3.out"
}

# write_and_compare IMG RAW SEED N TRIMS [qemu]: apply the same random
# requests to IMG through the plugin and to RAW; compare the plugin's
# view (and qemu's, with "qemu") with RAW; check the structure.
write_and_compare ()
{
  local img=$1 raw=$2 seed=$3 n=$4 trims=$5 size ops=$tmp/ops
  size=$(stat -c %s "$raw")
  gen_ops "$seed" "$size" 2097152 "$n" "$trims" > "$ops"
  nbdkit -U - "$p" file="$img" \
    --run "qemu-io -f raw nbd+unix:///?socket=\$unixsocket < $ops > $ops.out 2>&1"
  refute_grep "fail|error" "$ops.out"
  apply_ops "$raw" raw "$ops"
  $check "$img"
  plugin_read "$img" "$tmp/back.raw"
  # qemu-img compare skips holes (127 GiB corpus disks), cmp does not.
  test "$(stat -c %s "$tmp/back.raw")" = "$size"
  qemu-img compare -q -f raw -F raw "$raw" "$tmp/back.raw"
  if [ "${6-}" = qemu ]; then
    qemu-img compare -q -f raw -F vpc "$raw" "$img"
  fi
  rm -f "$tmp/back.raw"
}
