# OVA test helpers, sourced after functions.sh.

# Write an OVF descriptor to FILE for the disks given as
# HREF:ID:EXTRA... where EXTRA is inserted in the File element
# (ovf:compression="gzip", ovf:chunkSize="N").  CAPACITY (bytes) is the
# same for all disks.
make_ovf ()
{
  local file=$1 capacity=$2 i=0 spec href extra
  shift 2
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<!-- made by the xdisk tests -->'
    echo '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"'
    echo '  xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">'
    echo '<References>'
    for spec in "$@"; do
      href=${spec%%:*}; extra=${spec#*:}; [ "$extra" = "$spec" ] && extra=
      echo "  <File ovf:href=\"$href\" ovf:id=\"file$i\" $extra/>"
      i=$((i + 1))
    done
    echo '</References>'
    echo '<DiskSection><Info>Virtual disks</Info>'
    for (( i = 0; i < $#; i++ )); do
      echo "  <ovf:Disk ovf:capacity=\"$capacity\" ovf:capacityAllocationUnits=\"byte\""
      echo "    ovf:diskId=\"vmdisk$i\" ovf:fileRef=\"file$i\"/>"
    done
    echo '</DiskSection>'
    echo '<VirtualSystem ovf:id="vm-id"><Info>A test VM</Info>'
    echo '  <Name>test &lt;vm&gt;</Name>'
    echo '  <ProductSection><Info>x</Info><Product>Widget</Product>'
    echo '    <Vendor>ACME</Vendor></ProductSection>'
    echo '</VirtualSystem></Envelope>'
  } > "$file"
}

# ovftool's manifest (SHA256(f)= hex) of FILES... to stdout.
make_mf_ovftool ()
{
  local f
  for f in "$@"; do
    echo "SHA256($(basename "$f"))= $(sha256sum < "$f" | cut -d' ' -f1)"
  done
}

# VirtualBox's manifest (SHA1 (f) = hex).
make_mf_vbox ()
{
  local f
  for f in "$@"; do
    echo "SHA1 ($(basename "$f")) = $(sha1sum < "$f" | cut -d' ' -f1)"
  done
}
