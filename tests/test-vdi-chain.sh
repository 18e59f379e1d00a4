#!/usr/bin/env bash
# VDI differencing chains (VirtualBox snapshots), which qemu-img cannot
# make or read, from vdi-mkdiff.py: every byte compared with an
# expectation written alongside.  The parent is found by UUID: in the
# same directory, in the directory above, through a .vbox media
# registry, or from parent=; its UUID and modification UUID are checked
# (ignore-parent-mismatch=true overrides); zero blocks hide the parent;
# a machine folder is the path policy's root for its Snapshots.
source "$srcdir/functions.sh"
source "$srcdir/vdi-functions.sh"
set -e -x

requires_plugin vdix
requires nbdcopy --version
requires nbdinfo --version
requires python3 --version
requires jq --version
make_tmpdir
M=$(( 1 << 20 ))
size=$(( 8 * M ))

description ()
{
  nbdkit -U - -r "$(plugin vdix)" file="$1" "${@:2}" \
    --run 'nbdinfo --json "$uri"' | jq -r '.exports[0].description'
}

# chain DIR: base.vdi <- s1.vdi <- s2.vdi <- s3.vdi in DIR, with
# $DIR/*.raw the expected contents of each.
chain ()
{
  local d=$1
  mkdir -p "$d"
  $mkdiff create "$d/base.vdi" $size
  truncate -s $size "$d/base.raw"
  put "$d/base.vdi" "$d/base.raw" 0 $(( 3 * M )) 0x10
  put "$d/base.vdi" "$d/base.raw" $(( 6 * M )) $(( 2 * M )) 0x11
  cp "$d/base.raw" "$d/s1.raw"
  $mkdiff create "$d/s1.vdi" $size --parent "$d/base.vdi"
  put "$d/s1.vdi" "$d/s1.raw" 1000 5000 0x21
  put "$d/s1.vdi" "$d/s1.raw" $(( 4 * M + 10 )) 100 0x22
  zero_block "$d/s1.vdi" "$d/s1.raw" 6 $M    # hides base's block 6
  cp "$d/s1.raw" "$d/s2.raw"
  $mkdiff create "$d/s2.vdi" $size --parent "$d/s1.vdi"
  put "$d/s2.vdi" "$d/s2.raw" $(( 2 * M - 7 )) 14 0x31
  put "$d/s2.vdi" "$d/s2.raw" $(( 7 * M )) 512 0x32
  cp "$d/s2.raw" "$d/s3.raw"
  $mkdiff create "$d/s3.vdi" $size --parent "$d/s2.vdi"
  put "$d/s3.vdi" "$d/s3.raw" $(( 5 * M )) $(( M + 1 )) 0x41
  zero_block "$d/s3.vdi" "$d/s3.raw" 0 $M
}

# ---- Same directory, 3 deep -------------------------------------------
chain "$tmp/same"
# The search skips what is not a VDI: a FIFO (never waited on), a
# directory, a short file.
mkfifo "$tmp/same/fifo.vdi"
mkdir "$tmp/same/dir.vdi"
echo x > "$tmp/same/short.vdi"
for i in base s1 s2 s3; do
  expect_raw "$tmp/same/$i.vdi" "$tmp/same/$i.raw"
done
description "$tmp/same/s3.vdi" | tee "$tmp/desc"
grep -q "VDI differencing" "$tmp/desc"
grep -q "parent chain depth 3" "$tmp/desc"
grep -q "$($mkdiff uuid "$tmp/same/base.vdi")" "$tmp/desc"
# The extents: zero blocks are holes, free ones come from the parent.
nbdkit -U - -r "$(plugin vdix)" file="$tmp/same/s3.vdi" \
  --run 'nbdinfo --map "$uri"' | tee "$tmp/map"
grep -Eq '^ *0 +1048576 +3 +hole,zero' "$tmp/map"
grep -Eq '^ *1048576 +[0-9]+ +0 +data' "$tmp/map"

# ---- Parent in the directory above ------------------------------------
mkdir -p "$tmp/up/sub"
chain "$tmp/up"
mv "$tmp/up/s3.vdi" "$tmp/up/sub/s3.vdi"
expect_open_error vdix "$tmp/up/sub/s3.vdi" \
  "not looked at \(such as .*/up/.*allow-external-files"
expect_raw "$tmp/up/sub/s3.vdi" "$tmp/up/s3.raw" allow-external-files=true
expect_raw "$tmp/up/sub/s3.vdi" "$tmp/up/s3.raw" allow-external-files="$tmp/up"

# ---- A machine folder: Machine/Machine.vbox, Machine/base.vdi,
# ---- Machine/Snapshots/{uuid}.vdi
m=$tmp/Machine
chain "$tmp/mf"
mkdir -p "$m/Snapshots"
cp "$tmp/mf/base.vdi" "$m/base.vdi"
for i in s1 s2 s3; do
  cp "$tmp/mf/$i.vdi" "$m/Snapshots/{$($mkdiff uuid "$tmp/mf/$i.vdi")}.vdi"
done
top="$m/Snapshots/{$($mkdiff uuid "$tmp/mf/s3.vdi")}.vdi"
# Without the .vbox file, Snapshots/ is the root: base.vdi is outside.
expect_open_error vdix "$top" "not looked at \(such as .*Machine/base.vdi"
$mkdiff vbox "$m/Machine.vbox" "$m/base.vdi" \
  "$m/Snapshots/{$($mkdiff uuid "$tmp/mf/s1.vdi")}.vdi" \
  "$m/Snapshots/{$($mkdiff uuid "$tmp/mf/s2.vdi")}.vdi" "$top"
expect_raw "$top" "$tmp/mf/s3.raw"
# ... but nothing beside the machine folder.
mv "$m/base.vdi" "$tmp/base.vdi"
sed -i 's|location="base.vdi"|location="../base.vdi"|' "$m/Machine.vbox"
expect_open_error vdix "$top" "outside the image's directory"
expect_raw "$top" "$tmp/mf/s3.raw" allow-external-files=true
mv "$tmp/base.vdi" "$m/base.vdi"

# ---- Through the .vbox media registry only ----------------------------
# The base lives in a folder no directory search looks at; the .vbox
# file one level up names it (relative to the .vbox file, with XML
# escapes in the name).
v=$tmp/VM2
mkdir -p "$v/disks & more" "$v/Snapshots"
cp "$tmp/mf/base.vdi" "$v/disks & more/base.vdi"
cp "$tmp/mf/s1.vdi" "$v/Snapshots/s1.vdi"
expect_open_error vdix "$v/Snapshots/s1.vdi" "not found"
$mkdiff vbox "$v/VM2.vbox" "$v/disks & more/base.vdi" "$v/Snapshots/s1.vdi"
sed -i 's|disks & more|disks \&amp; more|' "$v/VM2.vbox"
cat "$v/VM2.vbox"
expect_raw "$v/Snapshots/s1.vdi" "$tmp/mf/s1.raw"
description "$v/Snapshots/s1.vdi" | grep -q "found by .vbox media registry"
# A .vbox file next to the image works too.
mv "$v/VM2.vbox" "$v/Snapshots/VM2.vbox"
sed -i 's|location="disks|location="../disks|' "$v/Snapshots/VM2.vbox"
expect_raw "$v/Snapshots/s1.vdi" "$tmp/mf/s1.raw" allow-external-files=true
# A malformed .vbox file (its first comment never ends) names no parent,
# as before: the search goes on past it, and finds none.
cp "$v/Snapshots/VM2.vbox" "$tmp/VM2.vbox"
sed -i 's| -->$||' "$v/Snapshots/VM2.vbox"
test "$(grep -cF -- '-->' "$v/Snapshots/VM2.vbox")" = 0
expect_open_error vdix "$v/Snapshots/s1.vdi" "parent \{.*\} not found" \
  allow-external-files=true
mv "$tmp/VM2.vbox" "$v/Snapshots/VM2.vbox"
# Character references in the location are decoded (the .vbox file is
# read through the XML reader).
sed -i 's|location="../disks &amp; more/base.vdi"|location="..\&#x2F;disks \&#38; more\&#47;base.vdi"|' \
  "$v/Snapshots/VM2.vbox"
grep -F 'location="..&#x2F;disks &#38; more&#47;base.vdi"' "$v/Snapshots/VM2.vbox"
expect_raw "$v/Snapshots/s1.vdi" "$tmp/mf/s1.raw" allow-external-files=true

# ---- parent= -----------------------------------------------------------
mkdir -p "$tmp/p/a" "$tmp/p/b"
cp "$tmp/mf/s1.vdi" "$tmp/p/a/child.vdi"
cp "$tmp/mf/base.vdi" "$tmp/p/b/whatever.img"
expect_open_error vdix "$tmp/p/a/child.vdi" "parent=FILE"
expect_raw "$tmp/p/a/child.vdi" "$tmp/mf/s1.raw" parent="$tmp/p/b/whatever.img"
( cd "$tmp/p" && expect_raw a/child.vdi "$tmp/mf/s1.raw" parent=b/whatever.img )

# ---- Mismatches --------------------------------------------------------
# Another image as parent=: its UUID is not the recorded one.
expect_open_error vdix "$tmp/p/a/child.vdi" "does not match: its UUID" \
  parent="$tmp/same/base.vdi"
nbdkit -U - -r "$(plugin vdix)" file="$tmp/p/a/child.vdi" \
  parent="$tmp/same/base.vdi" ignore-parent-mismatch=true --run 'true'
# The parent was modified after the child was made.
cp "$tmp/mf/base.vdi" "$tmp/p/a/base.vdi"
expect_raw "$tmp/p/a/child.vdi" "$tmp/mf/s1.raw"
$mkdiff poke "$tmp/p/a/base.vdi" 0x198 uuid "$(cat /proc/sys/kernel/random/uuid)"
expect_open_error vdix "$tmp/p/a/child.vdi" "modification UUID"
expect_raw "$tmp/p/a/child.vdi" "$tmp/mf/s1.raw" ignore-parent-mismatch=true

# ---- Missing parents and loops -----------------------------------------
rm "$tmp/p/a/base.vdi"
expect_open_error vdix "$tmp/p/a/child.vdi" \
  "parent \{$($mkdiff uuid "$tmp/mf/base.vdi")\} not found"
mkdir "$tmp/loop"
$mkdiff create "$tmp/loop/a.vdi" $size
$mkdiff create "$tmp/loop/b.vdi" $size --parent "$tmp/loop/a.vdi"
$mkdiff poke "$tmp/loop/a.vdi" 0x4c u32 4
$mkdiff poke "$tmp/loop/a.vdi" 0x1a8 uuid "$($mkdiff uuid "$tmp/loop/b.vdi")"
expect_open_error vdix "$tmp/loop/b.vdi" "loop"
# A self-loop.
$mkdiff poke "$tmp/loop/a.vdi" 0x1a8 uuid "$($mkdiff uuid "$tmp/loop/a.vdi")"
expect_open_error vdix "$tmp/loop/a.vdi" "loop"

# ---- A child larger than its parent reads zeros past the parent ---------
mkdir "$tmp/grow"
$mkdiff create "$tmp/grow/base.vdi" $(( 2 * M ))
truncate -s $(( 2 * M )) "$tmp/grow/raw"
put "$tmp/grow/base.vdi" "$tmp/grow/raw" 0 $(( 2 * M )) 0x55
truncate -s $(( 4 * M )) "$tmp/grow/raw"
$mkdiff create "$tmp/grow/child.vdi" $(( 4 * M )) --parent "$tmp/grow/base.vdi"
put "$tmp/grow/child.vdi" "$tmp/grow/raw" $(( 3 * M )) 10 0x66
expect_raw "$tmp/grow/child.vdi" "$tmp/grow/raw"
