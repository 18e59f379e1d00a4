#!/usr/bin/env bash
# The filters' read-ahead (common/readahead.c): whatever the clients'
# request sizes, connections and order of reads, through small and large
# read-ahead budgets, they get the image's bytes; over a transport that
# fails now and then, a copy either succeeds with the right bytes or
# fails with EIO, never with wrong data.  Over the file plugin and over
# the curl plugin (one request per connection: the filter's pool).
source "$srcdir/functions.sh"
source "$srcdir/filter-functions.sh"
set -e -x

for f in vmdkx vhdx qcow2x; do requires_filter $f; done
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
make_tmpdir

# Data that does not compress, patterns to read back, holes.
raw=$tmp/disk.raw
truncate -s 48M "$raw"
random_bytes 1 9M | dd of="$raw" bs=1M seek=1 conv=notrunc status=none
qemu-io -f raw -c 'write -P 0x61 12M 6M' -c 'write -P 0x62 26M 3M' \
  -c 'write -P 0x63 40M 8M' "$raw" >/dev/null
want=$(sha256sum < "$raw" | cut -d' ' -f1)
mkdir "$tmp/www"
qemu-img convert -q -f raw -O vmdk -o subformat=streamOptimized "$raw" \
  "$tmp/www/stream.vmdk"
qemu-img convert -q -f raw -O vhdx -o subformat=dynamic,block_size=1M \
  "$raw" "$tmp/www/disk.vhdx"
qemu-img convert -q -f raw -O qcow2 "$raw" "$tmp/www/disk.qcow2"
declare -A own=([stream.vmdk]=vmdkx [disk.vhdx]=vhdx [disk.qcow2]=qcow2x)

# Reads in pattern runs, backwards and forwards, sizes that do not
# divide the read-ahead chunks.
qemu_io_reads=(
  -c 'read -P 0x63 47M 1M' -c 'read -P 0x61 12M 5000'
  -c 'read -P 0x61 17M 1M' -c 'read -P 0x62 26M 3M'
  -c 'read -P 0x61 12M 6M' -c 'read -P 0x63 40M 3333'
  -c 'read -P 0x63 41M 7M' -c 'read -P 0x62 28M 1M'
  -c 'read -P 0x61 13M 4096' -c 'read -P 0x63 44M 4M'
)

# Serve IMG through its filter over PLUGIN ARGS..., running $run.
serve ()
{
  local img=$1
  shift
  nbdkit -U - -r --filter="$(filter "${own[$img]}")" "$@" --run "$run"
}

# --run goes through sh: the qemu-io command line goes in a script.
printf 'exec qemu-io -f raw -r "$1"' > "$tmp/reads.sh"
printf " %q" "${qemu_io_reads[@]}" >> "$tmp/reads.sh"
qemu_io_run="sh $tmp/reads.sh "\$uri""

check_all_reads ()              # PLUGIN ARGS...
{
  local cache size
  for cache in 1M 64M; do
    for size in 4096 1048576 8388608; do
      run="nbdcopy --request-size=$size \"\$uri\" - | sha256sum"
      test "$(serve "$img" "$@" cache=$cache | cut -d' ' -f1)" = "$want"
    done
    run='nbdcopy -C 1 --synchronous "$uri" - | sha256sum'
    test "$(serve "$img" "$@" cache=$cache | cut -d' ' -f1)" = "$want"
    run=$qemu_io_run
    serve "$img" "$@" cache=$cache > "$tmp/io.out"
    cat "$tmp/io.out"
    refute_grep 'Pattern verification failed' "$tmp/io.out"
    test "$(grep -c "^read " "$tmp/io.out")" = $((${#qemu_io_reads[@]} / 2))
  done
}

for img in "${!own[@]}"; do
  check_all_reads --filter=delay file file="$tmp/www/$img" rdelay=1ms
done

# A transport that fails at random: a copy that succeeds has every byte
# right, one that fails says EIO.  Not in the sanitizer build (see
# test-filters.sh: nbdkit 1.32 hangs at exit there once the error
# filter printed a message).  nbdcopy --synchronous: see the full file
# system case of test-xva-create.sh (an nbdkit 1.32.5 abort when a
# client hangs up mid-request).
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  for img in "${!own[@]}"; do
    for try in 1 2 3; do
      # Failures start once the image is open.
      rm -f "$tmp/fail-now"
      run='nbdinfo --size "$uri" && touch '"$tmp"'/fail-now &&
           { nbdcopy --synchronous "$uri" '"$tmp"'/out.raw 2> '"$tmp"'/copy.err;
             echo "copy exit $?"; }'
      status=0
      serve "$img" --filter=error file file="$tmp/www/$img" cache=4M \
        error-pread=EIO error-pread-rate=2% error-file="$tmp/fail-now" \
        > "$tmp/err.out" 2>&1 || status=$?
      cat "$tmp/err.out" "$tmp/copy.err"
      check_not_crashed $status "serving through the error filter" \
        "$tmp/err.out"
      # A failure either hits a read (EIO) or the open of a
      # connection that nbdcopy makes after the first: the filter
      # then refuses the connection, which nbdkit 1.32 tells the
      # client as "no export" during the handshake.
      if grep -q 'copy exit 0' "$tmp/err.out"; then
        cmp "$tmp/out.raw" "$raw"
      else
        grep -q 'copy exit 1' "$tmp/err.out"
        grep -Eq 'Input/output error|handshake: server has no export' \
          "$tmp/copy.err"
      fi
      rm -f "$tmp/out.raw"
    done
  done
fi

# --- over HTTP, where the filter keeps a pool of connections ---
if command -v lighttpd >/dev/null && nbdkit curl --version >/dev/null 2>&1
then
  start_web_server "$tmp/www"
  for img in "${!own[@]}"; do
    check_all_reads curl url="http://127.0.0.1:$web_port/$img"
  done
fi
