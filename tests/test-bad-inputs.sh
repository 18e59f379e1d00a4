#!/usr/bin/env bash
# Damaged images through every plugin: the files in ../shared/corpus/bad/
# (when present) and images made here with qemu-img and vhd-mkdiff
# (VMDK monolithicSparse, streamOptimized and a snapshot, VHD and VHDX
# dynamic, VHD and VHDX differencing children), then damaged by the
# mutate tool: random byte flips in each header and table (fixed seeds,
# so every run makes the same images), and truncations at every
# structure boundary (header ends, descriptor, GD/GT, BAT, region
# tables, metadata, log, the first grains and blocks).
#
# Each image is served by each plugin and copied to null:.  Either that
# works, or it fails with exactly one error line from the plugin, naming
# a file.  Never a signal, a hang (60 s, times XDISK_TIMEOUT_SCALE: a
# run takes well under a second, but the sanitizer build on a loaded
# machine is many times slower), or a sanitizer report.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vmdkx
requires_plugin vhdx
requires_plugin vdix
requires_plugin diskx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires timeout --version
mutate=$top_builddir/tests/mutate
mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$mutate"
requires test -x "$mkdiff"
make_tmpdir
cd "$tmp"

plugins="vmdkx vhdx vdix diskx"
[ -f "$(plugin qcow2x)" ] && plugins="$plugins qcow2x"
# In the sanitizer build every nbdkit run costs half a second more (the
# leak check at exit symbolizes the stacks lsan-nbdkit.supp matches), so
# fewer flips are made there: one seed per table instead of two, three
# spread over all instead of six.  Truncations are all kept.
region_seeds="1 2" all_seeds="1 2 3 4 5 6"
if [ -n "${XDISK_NBDKIT_PRELOAD-}" ]; then
  region_seeds="1" all_seeds="1 2 3"
fi
runs=0 served=0 refused=0 failures=0 hang=$(( 60 * timeout_scale ))
# Sanitizer reports written to files (tests/run-sanitizers sets
# log_path): count them, to name the image that caused one.
san_dir=
case "${ASAN_OPTIONS-}" in
  *log_path=*) san_dir=${ASAN_OPTIONS#*log_path=}; san_dir=${san_dir%%:*}
               san_dir=${san_dir%/*} ;;
esac
san_reports () { if [ -n "$san_dir" ]; then ls "$san_dir" | wc -l; else echo 0; fi; }

# check IMG WHAT [PLUGIN...]: serve IMG with each PLUGIN (default: every
# plugin); record a failure unless each run either succeeds or fails
# cleanly.
check ()
{
  local img=$1 what=$2 p status n before
  shift 2
  { set +x; } 2>/dev/null
  for p in ${@:-$plugins}; do
    status=0
    before=$(san_reports)
    timeout $hang "${nbdkit_cmd[@]}" -U - -r "$(plugin "$p")" file="$img" \
      --run 'nbdcopy --synchronous "$uri" null:' > "$tmp/out" 2> "$tmp/err" ||
      status=$?
    runs=$((runs + 1))
    n=$(grep -cE "^nbdkit: ($p(\.[0-9]+|\[[0-9]+\])?: )?error: " "$tmp/err" || :)
    if [ "$status" -eq 124 ]; then
      bad "$p" "$img" "$what" "hung (killed after $hang s)"
    elif [ "$status" -ge 128 ]; then
      bad "$p" "$img" "$what" "died from a signal (status $status)"
    elif ! check_not_crashed "$status" "$p on $img" "$tmp/err" > /dev/null; then
      bad "$p" "$img" "$what" "sanitizer report"
    elif [ "$(san_reports)" != "$before" ]; then
      bad "$p" "$img" "$what" "a sanitizer report appeared in $san_dir"
    elif [ "$status" -eq 0 ]; then
      [ "$n" -eq 0 ] || bad "$p" "$img" "$what" "served, but printed $n errors"
      served=$((served + 1))
    elif [ "$n" -ne 1 ]; then
      bad "$p" "$img" "$what" "failed with $n error lines from the plugin (want 1)"
    elif ! grep -E "^nbdkit: ($p(\.[0-9]+|\[[0-9]+\])?: )?error: " "$tmp/err" |
           grep -qF "$tmp/"; then
      bad "$p" "$img" "$what" "the error does not name the file"
    else
      refused=$((refused + 1))
    fi
  done
  set -x
}

bad ()
{
  local p=$1 img=$2 what=$3 why=$4
  echo "FAIL: $p: $what: $why"
  sed 's/^/    /' "$tmp/err" | head -20
  failures=$((failures + 1))
}

# ---- The corpus -------------------------------------------------------

if [ -d "$XDISK_SHARED/corpus/bad" ]; then
  mkdir corpus
  for f in "$XDISK_SHARED"/corpus/bad/*; do
    [ -f "$f" ] || continue
    name=${f##*/}
    name=${name%.gz}
    name=${name%.bz2}
    case "$f" in
      *.gz)  gzip -dc "$f" > "corpus/$name" ;;
      *.bz2) bzip2 -dc "$f" > "corpus/$name" ;;
      *)     cp "$f" "corpus/$name" ;;
    esac
    check "$tmp/corpus/$name" "corpus/bad/$name"
    rm -f "corpus/$name"
  done
else
  echo "$0: $XDISK_SHARED/corpus/bad is not present: only made images"
fi

# ---- Images to damage -------------------------------------------------

mkdir good
cd good
M=$((1 << 20))
qemu-img create -q -f vmdk sparse.vmdk 8M
qemu-io -f vmdk -c "write -P 0x11 0 100k" -c "write -P 0x12 $((3 * M)) 64k" \
  -c "write -P 0x13 $((8 * M - 4096)) 4096" sparse.vmdk >/dev/null
qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized \
  sparse.vmdk stream.vmdk
qemu-img create -q -f vmdk -b sparse.vmdk -F vmdk snap.vmdk
qemu-io -f vmdk -c "write -P 0x14 $((2 * M)) 70k" snap.vmdk >/dev/null
qemu-img create -q -f vpc -o force_size=on dyn.vhd 8M
qemu-io -f vpc -c "write -P 0x21 0 100k" -c "write -P 0x22 $((5 * M)) 64k" \
  dyn.vhd >/dev/null
"$mkdiff" vhd child.vhd dyn.vhd --block-size 512K
"$mkdiff" write child.vhd 1000 3000 0x23
"$mkdiff" write child.vhd $((6 * M)) 4096 0x24
qemu-img create -q -f vhdx -o block_size=1M dyn.vhdx 8M
qemu-io -f vhdx -c "write -P 0x31 0 100k" -c "write -P 0x32 $((5 * M)) 64k" \
  dyn.vhdx >/dev/null
"$mkdiff" vhdx child.vhdx dyn.vhdx --block-size 1M
"$mkdiff" write child.vhdx 5000 3000 0x33
"$mkdiff" write child.vhdx $((7 * M)) 4096 0x34
qemu-img create -q -f vdi dyn.vdi 8M
qemu-io -f vdi -c "write -P 0x41 0 100k" -c "write -P 0x42 $((5 * M)) 64k" \
  dyn.vdi >/dev/null
python3 "$srcdir/vdi-mkdiff.py" create child.vdi $((8 * M)) --parent dyn.vdi
python3 "$srcdir/vdi-mkdiff.py" write child.vdi 5000 3000 0x43
python3 "$srcdir/vdi-mkdiff.py" write child.vdi $((7 * M)) 4096 0x44
images="sparse.vmdk stream.vmdk snap.vmdk dyn.vhd child.vhd dyn.vhdx child.vhdx
        dyn.vdi child.vdi"
if [ -f "$(plugin qcow2x)" ]; then
  qemu-img create -q -f qcow2 -o cluster_size=4096 q.qcow2 8M
  qemu-io -f qcow2 -c "write -P 0x41 0 100k" -c "write -z $M 64k" q.qcow2 \
    >/dev/null
  qemu-img snapshot -c s1 q.qcow2
  qemu-io -f qcow2 -c "write -P 0x42 $((5 * M)) 64k" q.qcow2 >/dev/null
  qemu-img convert -c -f qcow2 -O qcow2 q.qcow2 qz.qcow2
  qemu-img create -q -f qcow2 -b q.qcow2 -F qcow2 -o extended_l2=on \
    qtop.qcow2
  qemu-io -f qcow2 -c "write -P 0x43 6000 3000" qtop.qcow2 >/dev/null
  images="$images q.qcow2 qz.qcow2 qtop.qcow2"
fi

# The intact images are served (by their own plugin) without errors.
for img in $images; do
  check "$tmp/good/$img" "$img (intact)"
done
[ "$failures" -eq 0 ]

# ---- Flips and truncations --------------------------------------------

# Damaged copies sit next to the originals, so that children still find
# their parents (and damaged parents are read through their children).
for img in $images; do
  ext=${img##*.}
  "$mutate" layout "$img" > "$tmp/layout"
  cat "$tmp/layout"
  size=$(stat -c %s "$img")
  ranges=()
  while read kind start len name; do
    [ "$kind" = region ] && ranges+=("$start:$len")
  done < "$tmp/layout"

  # Damaged copies keep their signature, so only the image's own plugin
  # gets past it (every plugin had its turn on the intact images), which
  # keeps the test well under a minute even in the sanitizer build.
  case "$ext" in vmdk) own=vmdkx ;; vdi) own=vdix ;; qcow2) own=qcow2x ;; *) own=vhdx ;; esac

  # Flips: two seeds per header or table, four bytes each; then six
  # seeds spread over all of them at once (fewer with sanitizers).
  i=0
  for r in "${ranges[@]}"; do
    for seed in $region_seeds; do
      "$mutate" flip "$img" "m.$ext" $((i * 10 + seed)) 4 "$r"
      check "$tmp/good/m.$ext" "$img flipped in $r (seed $seed)" $own
    done
    i=$((i + 1))
  done
  for seed in $all_seeds; do
    "$mutate" flip "$img" "m.$ext" $((1000 + seed)) 8 "${ranges[@]}"
    check "$tmp/good/m.$ext" "$img flipped all over (seed $seed)" $own
  done

  # Truncations at each boundary, one byte either side of the header,
  # and to nothing.
  for off in 0 1 511 $(awk '$1 == "cut" { print $2 }' "$tmp/layout" | sort -nu) \
             $((size - 512)) $((size - 1)); do
    [ "$off" -ge 0 ] && [ "$off" -lt "$size" ] || continue
    head -c "$off" "$img" > "m.$ext"
    check "$tmp/good/m.$ext" "$img truncated to $off bytes" $own
  done

  # A damaged parent under an intact child.
  case "$img" in
    sparse.vmdk|dyn.vhd|dyn.vhdx|dyn.vdi|q.qcow2)
      cp "$img" "$img.orig"
      "$mutate" flip "$img.orig" "$img" 77 8 "${ranges[@]}"
      case "$img" in
        sparse.vmdk) check "$tmp/good/snap.vmdk" "snap.vmdk over a flipped parent" $own ;;
        dyn.vhd)     check "$tmp/good/child.vhd" "child.vhd over a flipped parent" $own ;;
        dyn.vhdx)    check "$tmp/good/child.vhdx" "child.vhdx over a flipped parent" $own ;;
        dyn.vdi)     check "$tmp/good/child.vdi" "child.vdi over a flipped parent" $own ;;
        q.qcow2)     check "$tmp/good/qtop.qcow2" "qtop.qcow2 over a flipped parent" $own ;;
      esac
      mv "$img.orig" "$img"
      ;;
  esac
  rm -f "m.$ext"
done

echo "$0: $runs runs: $served served, $refused refused cleanly," \
  "$failures failed"
[ "$failures" -eq 0 ]
