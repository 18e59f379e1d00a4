# Helpers for the VMDK write tests, sourced after functions.sh.

xdisk_check="$top_builddir/tests/xdisk-check"

# A raw disk of SIZE bytes with data, zeros and holes, unaligned runs.
vmdkw_make_raw ()
{
  local out=$1 size=$2
  rm -f "$out"
  truncate -s "$size" "$out"
  random_bytes 1 1234567 |
    dd of="$out" bs=64K oflag=seek_bytes seek=70000 conv=notrunc status=none
  random_bytes 2 300000 |
    dd of="$out" bs=64K oflag=seek_bytes seek=$(( size / 2 + 777 )) \
       conv=notrunc status=none
  printf 'tail' | dd of="$out" bs=1 seek=$(( size - 4 )) conv=notrunc status=none
}

# Both checkers: qemu-img check and the format's own check op.
vmdkw_check ()
{
  qemu-img check -q -f vmdk "$1"
  "$xdisk_check" -f vmdk "$1"
}

# Random writes into IMG (served writable, extra params after) and the
# same writes into RAW; then IMG must read as RAW, for qemu and vmdkx.
# (TRIM=trim: discards too.)
vmdkw_random_writes ()
{
  local img=$1 raw=$2 seed=$3 count=$4
  shift 4
  nbdkit -U - "$(plugin vmdkx)" file="$img" "$@" \
    --run "python3 '$srcdir/vmdk-randwrite.py' \"\$uri\" '$raw' $seed $count 200000 ${TRIM-}"
  qemu-img compare -q -f vmdk -F raw "$img" "$raw"
  compare_with_qemu vmdkx "$img" vmdk "$@"
}

# libvmdk (a reader that needs VMware's descriptor layout, comment lines
# included) must read IMG as RAW, when its Python binding is installed
# (Debian: python3-libvmdk).
vmdkw_libvmdk ()
{
  local py
  for py in /usr/bin/python3 python3; do
    if "$py" -c 'import pyvmdk' 2>/dev/null; then
      "$py" - "$1" "$2" <<'PY'
import pyvmdk, sys
h = pyvmdk.handle()
h.open(sys.argv[1])
h.open_extent_data_files()
raw = open(sys.argv[2], "rb").read()
assert h.get_media_size() == len(raw), (h.get_media_size(), len(raw))
assert h.read_buffer_at_offset(len(raw), 0) == raw, "libvmdk reads otherwise"
PY
      return
    fi
  done
  missing "python3-libvmdk (pyvmdk): the libvmdk cross-check not run"
}
