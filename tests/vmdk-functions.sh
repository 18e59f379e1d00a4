# VMDK test helpers, sourced by tests/test-vmdk-*.sh after functions.sh.

# qemu-io on a VMDK image, quietly: vmdk_io IMG 'write -P 0x11 0 512' ...
vmdk_io ()
{
  local img=$1 c args=()
  shift
  for c in "$@"; do args+=(-c "$c"); done
  qemu-io -f vmdk "${args[@]}" "$img" >/dev/null
}

# Check that vmdkx serves IMG byte for byte as qemu-img decodes it and
# that its extents agree with qemu-img map on zero vs data.
vmdk_check_qemu ()
{
  local img=$1
  shift
  compare_with_qemu vmdkx "$img" vmdk "$@"
  compare_map_with_qemu vmdkx "$img" vmdk "$@"
}

# Check that opening IMG (plus extra params) is refused with an error
# matching every extended regular expression in PATTERN... (give the
# patterns before a '--', the params after), and that nbdkit did not
# die from a signal.
#   vmdk_expect_open_error img 'grain size' 'KDMV|img' -- param=x
vmdk_expect_open_error ()
{
  local img=$1 p patterns=()
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do patterns+=("$1"); shift; done
  [ "${1-}" = "--" ] && shift
  expect_failure "$tmp/err" \
    nbdkit -U - -r "$(plugin vmdkx)" file="$img" "$@" --run 'true' ||
    return 1
  for p in "${patterns[@]}"; do
    if ! grep -Eq -- "$p" "$tmp/err"; then
      echo "$0: $img: expected an error matching: $p"
      return 1
    fi
  done
}

# Check that IMG opens but reading all of it fails with an error
# matching every PATTERN, without nbdkit dying from a signal.
vmdk_expect_read_error ()
{
  local img=$1 p
  shift
  expect_failure "$tmp/err" nbdkit -U - -r "$(plugin vmdkx)" file="$img" \
    --run 'nbdcopy --synchronous "$uri" null:' || return 1
  for p in "$@"; do
    if ! grep -Eq -- "$p" "$tmp/err"; then
      echo "$0: $img: expected a read error matching: $p"
      return 1
    fi
  done
}

# Overwrite bytes of FILE at OFFSET with the printf-format DATA
# (e.g. '\x00\x00\x00\x00'), in place.
vmdk_patch ()
{
  local file=$1 offset=$2 data=$3
  printf "$data" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# Little-endian encodings for vmdk_patch.
vmdk_le32 ()
{
  local v=$1
  printf '\\x%02x\\x%02x\\x%02x\\x%02x' \
    $(( v & 255 )) $(( (v >> 8) & 255 )) $(( (v >> 16) & 255 )) \
    $(( (v >> 24) & 255 ))
}
vmdk_le64 ()
{
  local v=$1
  printf '%s%s' "$(vmdk_le32 $(( v & 0xffffffff )))" \
    "$(vmdk_le32 $(( (v >> 32) & 0xffffffff )))"
}

# Read a little-endian u32/u64 field of FILE at OFFSET.
vmdk_get32 ()
{
  od -An -tu4 -j "$2" -N4 --endian=little "$1" | tr -d ' '
}
vmdk_get64 ()
{
  od -An -tu8 -j "$2" -N8 --endian=little "$1" | tr -d ' '
}
