#!/usr/bin/env bash
# Hand-written text descriptors, including what qemu-img 7.2 gets wrong
# (ZERO/RDONLY/NOACCESS extents, a blank line before an extent line),
# checked against an expectation built independently with head/dd/cat.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires nbdcopy --version
requires jq --version
requires openssl version
make_tmpdir
cd "$tmp"

# Deterministic, non-zero, position-dependent data (no block repeats).
pattern_file ()
{
  local out=$1 bytes=$2 seed=$3
  openssl enc -aes-128-ctr -nosalt -pass "pass:$seed" -pbkdf2 \
    -in /dev/zero 2>/dev/null | head -c "$bytes" > "$out"
  [ "$(stat -c %s "$out")" -eq "$bytes" ]
}
pattern_file p1.bin $(( 1024 * 1024 )) one
pattern_file "part two.bin" $(( 2 * 1024 * 1024 )) two

# bytes of FILE from sector START, COUNT sectors.
sectors_of ()
{
  dd if="$1" bs=512 skip="$2" count="$3" status=none
}
zeros ()
{
  head -c $(( $1 * 512 )) /dev/zero
}

# descriptor VERSION CREATETYPE: header, then the extent lines on
# stdin, then a DDB.
descriptor ()
{
  printf '# Disk DescriptorFile\nversion=%s\nCID=1a2b3c4d\nparentCID=ffffffff\n' "$1"
  printf 'createType="%s"\n\n# Extent description\n' "$2"
  cat
  printf '\n# The Disk Data Base\n#DDB\n\n'
  printf 'ddb.virtualHWVersion = "8"\nddb.adapterType = "lsilogic"\n'
  printf 'ddb.geometry.cylinders = "5"\nddb.geometry.heads = "16"\n'
  printf 'ddb.geometry.sectors = "63"\n'
}

# Check that vmdkx serves DESC exactly as EXPECTED (a file).
check_expected ()
{
  local desc=$1 expected=$2
  shift 2
  rm -f served.raw
  serve_to_raw vmdkx "$desc" served.raw "$@"
  cmp served.raw "$expected"
}

# Check that vmdkx reports [START, START+LEN) of DESC as reading zero.
check_zero_range ()
{
  local desc=$1 start=$2 len=$3
  nbdkit -U - -r "$(plugin vmdkx)" file="$desc" \
    --run 'qemu-img map -f raw --output=json "$uri"' > map.json
  jq -e --argjson s "$start" --argjson e $(( start + len )) \
    '[.[] | select(.start < $e and .start + .length > $s)
          | (.zero or (.data|not))] | all' map.json
}

# 1. Several FLAT extents with offsets, a ZERO extent, an RDONLY extent,
# a quoted name with spaces, comments, blank lines; createType custom.
descriptor 1 custom > multi.vmdk <<'EOT'
# the first half of p1
RW 1024 FLAT "p1.bin" 0
RW 512 FLAT "part two.bin" 2048

# 512 KiB of zeros, no file
RW 1024 ZERO
RDONLY 512 FLAT "p1.bin" 1024
RW 3 FLAT "part two.bin" 4093
EOT
{ sectors_of p1.bin 0 1024; sectors_of "part two.bin" 2048 512; zeros 1024
  sectors_of p1.bin 1024 512; sectors_of "part two.bin" 4093 3; } > multi.raw
check_expected multi.vmdk multi.raw
check_zero_range multi.vmdk $(( 1536 * 512 )) $(( 1024 * 512 ))
# The same from another directory (names resolve next to the descriptor).
(cd / && serve_to_raw vmdkx "$tmp/multi.vmdk" "$tmp/multi2.raw")
cmp multi2.raw multi.raw

# 2. The same with CRLF line ends.
sed -e 's/$/\r/' multi.vmdk > crlf.vmdk
check_expected crlf.vmdk multi.raw

# 3. A blank line just before each extent line (qemu-img 7.2 reads such
# an extent twice; VMware's format reads it once).
descriptor 1 monolithicFlat > blank.vmdk <<'EOT'

RW 2048 FLAT "p1.bin" 0

RW 4096 FLAT "part two.bin" 0
EOT
cat p1.bin "part two.bin" > blank.raw
check_expected blank.vmdk blank.raw

# 4. Descriptor versions 1, 2 and 3; createTypes that qemu knows and a
# partitionedDevice-like one whose extents are plain files.
for v in 1 2 3; do
  for ct in monolithicFlat twoGbMaxExtentFlat vmfs partitionedDevice \
            somethingNew; do
    descriptor $v $ct > "v$v-$ct.vmdk" <<'EOT'
RW 2048 FLAT "p1.bin" 0
RW 8 FLAT "part two.bin" 8
EOT
    { cat p1.bin; sectors_of "part two.bin" 8 8; } > "v$v.raw"
    check_expected "v$v-$ct.vmdk" "v$v.raw"
  done
done

# 5. A descriptor mixing a SPARSE extent (a qemu-made monolithicSparse
# image) with FLAT and ZERO extents.
qemu-img create -q -f vmdk sp.vmdk 1M
qemu-io -f vmdk -c 'write -P 0x3c 64k 100k' -c 'write -P 0x3d 1023k 1k' \
  sp.vmdk >/dev/null
qemu-img convert -f vmdk -O raw sp.vmdk sp.raw
descriptor 1 custom > mixed.vmdk <<'EOT'
RW 16 ZERO
RW 2048 SPARSE "sp.vmdk"
RW 2048 FLAT "p1.bin" 0
EOT
{ zeros 16; cat sp.raw p1.bin; } > mixed.raw
check_expected mixed.vmdk mixed.raw
check_zero_range mixed.vmdk 0 $(( 16 * 512 ))

# 6. A NOACCESS extent: the disk keeps its size and the extents around
# it read correctly; the NOACCESS range itself must either read as
# zeros or fail cleanly (EIO), never serve the file's bytes.
descriptor 1 custom > noaccess.vmdk <<'EOT'
RW 1024 FLAT "p1.bin" 0
NOACCESS 1024 FLAT "p1.bin" 1024
RW 1024 FLAT "part two.bin" 0
EOT
export na_first na_last na_mid
na_first=$tmp/na-first.raw na_last=$tmp/na-last.raw na_mid=$tmp/na-mid.txt
nbdkit -U - -r "$(plugin vmdkx)" file=noaccess.vmdk --run '
  nbdinfo --size "$uri" > na-size &&
  qemu-img convert -O raw --image-opts \
    "driver=raw,offset=0,size=524288,file.driver=nbd,file.server.type=unix,file.server.path=$unixsocket" \
    "$na_first" &&
  qemu-img convert -O raw --image-opts \
    "driver=raw,offset=1048576,size=524288,file.driver=nbd,file.server.type=unix,file.server.path=$unixsocket" \
    "$na_last" &&
  { qemu-io -r -f raw -c "read -P 0 524288 524288" "$uri" > "$na_mid" 2>&1 || :; }
'
[ "$(cat na-size)" -eq $(( 3072 * 512 )) ]
cmp na-first.raw <(sectors_of p1.bin 0 1024)
cmp na-last.raw <(sectors_of "part two.bin" 0 1024)
cat na-mid.txt
if grep -q 'Pattern verification failed' na-mid.txt; then
  echo "$0: the NOACCESS extent served non-zero data"
  exit 1
fi
grep -Eq 'read 524288/524288|Input/output error|Permission denied|Operation not permitted' \
  na-mid.txt

# 7. An RDONLY disk is still served (read-only server, -r).
descriptor 1 monolithicFlat > rdonly.vmdk <<'EOT'
RDONLY 2048 FLAT "p1.bin" 0
EOT
check_expected rdonly.vmdk p1.bin
