#!/usr/bin/env bash
# The files create=true writes, read back byte by byte: the descriptor
# as VMware lays it out (comment lines, keys, extent lines, only
# VMware's ddb keys, geometry for IDE and SCSI, adapter and hardware
# version spellings) and the hosted sparse header (version 1, 64 KiB
# grains, 512 entries per table, redundant directory, descriptor at
# sector 1 for 20 sectors, overhead a whole number of grains, both
# directories complete).
source "$srcdir/functions.sh"
set -e -x

requires_plugin vmdkx
requires nbdinfo --version
make_tmpdir

new ()                          # new FILE PARAMS...
{
  local f=$1
  shift
  rm -f "$tmp"/d*.vmdk
  nbdkit -U - "$(plugin vmdkx)" file="$f" create=true "$@" --run true
}

# The descriptor text of a monolithicSparse file (embedded, NUL padded).
desc ()
{
  python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
if b[:4] == b"KDMV":
    b = b[512:512 * 21]
sys.stdout.write(b.split(b"\0")[0].decode())' "$1"
}

new "$tmp/d.vmdk" create-size=100M
desc "$tmp/d.vmdk" > "$tmp/text"
cat "$tmp/text"
cid=$(sed -n 's/^CID=\([0-9a-f]\{8\}\)$/\1/p' "$tmp/text")
[ -n "$cid" ]
sed -e "s/$cid/CID/g" \
    -e 's/^ddb.longContentID = "[0-9a-f]\{24\}CID"$/ddb.longContentID = LONG/' \
    -e 's/^ddb.uuid = "\([0-9a-f][0-9a-f] \)\{7\}[0-9a-f][0-9a-f]-\([0-9a-f][0-9a-f] \)\{7\}[0-9a-f][0-9a-f]"$/ddb.uuid = UUID/' \
    "$tmp/text" > "$tmp/norm"
cat > "$tmp/expected" <<'TXT'
# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=CID
parentCID=ffffffff
isNativeSnapshot="no"
createType="monolithicSparse"

# Extent description
RW 204800 SPARSE "d.vmdk"

# The Disk Data Base 
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "100"
ddb.geometry.heads = "64"
ddb.geometry.sectors = "32"
ddb.longContentID = LONG
ddb.uuid = UUID
ddb.virtualHWVersion = "4"
TXT
diff -u "$tmp/expected" "$tmp/norm"

# The sparse header and both grain directories.
python3 - "$tmp/d.vmdk" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
(magic, version, flags, capacity, grain, desc_off, desc_size, gtes, rgd, gd,
 overhead, unclean, c1, c2, c3, c4, algo) = struct.unpack_from(
    "<4sIIQQQQIQQQB4cH", b, 0)
assert magic == b"KDMV", magic
assert version == 1 and flags == 3, (version, flags)
assert capacity == 204800 and grain == 128 and gtes == 512
assert desc_off == 1 and desc_size == 20 and rgd == 21, (desc_off, desc_size, rgd)
assert overhead % 128 == 0 and len(b) == overhead * 512, (overhead, len(b))
assert (c1, c2, c3, c4) == (b"\n", b" ", b"\r", b"\n") and algo == 0
n = -(-204800 // 128 // 512)
gde = struct.unpack_from("<%dI" % n, b, gd * 512)
rgde = struct.unpack_from("<%dI" % n, b, rgd * 512)
assert all(gde) and all(rgde), (gde, rgde)
assert len(set(gde) | set(rgde)) == 2 * n
assert all(x * 512 + 2048 <= overhead * 512 for x in gde + rgde)
PY

# Geometry: IDE 16/63 (at most 16383 cylinders), SCSI by size.
geo ()
{
  desc "$tmp/d.vmdk" | sed -n 's/^ddb.geometry.\(.*\) = "\(.*\)"$/\1=\2/p' | tr '\n' ' '
}
new "$tmp/d.vmdk" create-size=100M create-adapter-type=ide
[ "$(geo)" = "cylinders=203 heads=16 sectors=63 " ]
new "$tmp/d.vmdk" create-size=20G create-adapter-type=ide
[ "$(geo)" = "cylinders=16383 heads=16 sectors=63 " ]
new "$tmp/d.vmdk" create-size=1536M
[ "$(geo)" = "cylinders=768 heads=128 sectors=32 " ]
new "$tmp/d.vmdk" create-size=20G
[ "$(geo)" = "cylinders=2610 heads=255 sectors=63 " ]

# Adapter and hardware version spellings, vddk's and VMware's.
for a in ide:ide scsi-buslogic:buslogic buslogic:buslogic \
         scsi-lsilogic:lsilogic lsilogic:lsilogic legacyESX:legacyESX \
         pvscsi:pvscsi lsisas1068:lsisas1068; do
  new "$tmp/d.vmdk" create-size=1M create-adapter-type=${a%:*}
  desc "$tmp/d.vmdk" | grep -qx "ddb.adapterType = \"${a#*:}\""
done
for h in workstation4:3 workstation5:4 workstation6:6 esx30:4 esx4x:7 \
         esx50:8 esx51:9 esx55:10 esx60:11 esx65:13 14:14; do
  new "$tmp/d.vmdk" create-size=1M create-hwversion=${h%:*}
  desc "$tmp/d.vmdk" | grep -qx "ddb.virtualHWVersion = \"${h#*:}\""
done

# Text descriptors of the other kinds: createType, extent lines, keys.
keys ()
{
  grep -o '^ddb\.[a-zA-Z.]*' "$1" | tr '\n' ' '
}
std="ddb.adapterType ddb.geometry.cylinders ddb.geometry.heads ddb.geometry.sectors ddb.longContentID ddb.uuid ddb.virtualHWVersion "
for t in 'monolithicFlat:monolithicFlat:RW 2048 FLAT "d-flat.vmdk" 0' \
         'vmfs-flat:vmfs:RW 2048 VMFS "d-flat.vmdk"' \
         'vmfs-thin:vmfs:RW 2048 VMFS "d-flat.vmdk"' \
         'split-flat:twoGbMaxExtentFlat:RW 2048 FLAT "d-f001.vmdk" 0' \
         'split-sparse:twoGbMaxExtentSparse:RW 2048 SPARSE "d-s001.vmdk"'; do
  IFS=: read -r type ctype line <<< "$t"
  new "$tmp/d.vmdk" create-size=1M create-type=$type
  cat "$tmp/d.vmdk"
  head -1 "$tmp/d.vmdk" | grep -qx '# Disk DescriptorFile'
  grep -qx "createType=\"$ctype\"" "$tmp/d.vmdk"
  grep -qx "$line" "$tmp/d.vmdk"
  grep -qx '# Extent description' "$tmp/d.vmdk"
  grep -qx '# The Disk Data Base ' "$tmp/d.vmdk"
  grep -qx '#DDB' "$tmp/d.vmdk"
  if [ $type = vmfs-thin ]; then
    [ "$(keys "$tmp/d.vmdk")" = "ddb.adapterType ddb.geometry.cylinders ddb.geometry.heads ddb.geometry.sectors ddb.longContentID ddb.thinProvisioned ddb.uuid ddb.virtualHWVersion " ]
  else
    [ "$(keys "$tmp/d.vmdk")" = "$std" ]
  fi
done
# The extent of a split sparse disk: no embedded descriptor.
python3 - "$tmp/d-s001.vmdk" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
version, flags, capacity, grain, desc_off, desc_size, gtes, rgd = \
    struct.unpack_from("<IIQQQQIQ", b, 4)
assert (version, flags, capacity, grain, desc_off, desc_size, gtes, rgd) == \
    (1, 3, 2048, 128, 0, 0, 512, 1), (version, flags, desc_off, rgd)
PY
# A flat extent is exactly the disk's size.
new "$tmp/d.vmdk" create-size=3M create-type=monolithic-flat
[ "$(stat -c %s "$tmp/d-flat.vmdk")" = 3145728 ]
