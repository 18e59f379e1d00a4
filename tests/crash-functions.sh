# Crash tests through nbdkit (sourced after functions.sh):
#
#   source "$srcdir/crash-functions.sh"
#   crash_kill_test PLUGIN IMAGE ITERATIONS CHECK [PARAM=VALUE...]
#
# Each iteration serves IMAGE writable with PLUGIN, runs tests/crash-
# client's random writes, zeros and flushes against it, kills nbdkit
# with SIGKILL at a random moment, and then:
#  - serves the image again (it must open) and has crash-client verify
#    every sector: each holds what was written there before the last
#    completed flush, or something written after it, nothing else;
#  - runs CHECK IMAGE (a command: qemu-img check, tests/xdisk-check...)
#    which must succeed;
#  - keeps the disk's contents as the base of the next iteration.
# The random seeds come from the iteration number, so a failure can be
# repeated.  Sets crash_kills to the number of kills done.

crash_client="$top_builddir/tests/crash-client"
xdisk_check="$top_builddir/tests/xdisk-check"

requires_crash_client ()
{
  requires test -x "$crash_client"
}

# Serve IMAGE writable on the Unix socket SOCK in the background; set
# crash_pid to nbdkit's own pid (not a wrapper's: see nbdkit_cmd).
_crash_serve ()
{
  local p=$1 img=$2 sock=$3 i
  shift 3
  rm -f "$sock" "$tmp/crash.pid"
  "${nbdkit_cmd[@]}" -f -U "$sock" -P "$tmp/crash.pid" "$(plugin "$p")" \
    file="$img" "$@" &
  for (( i = 0; i < 300; i++ )); do
    [ -s "$tmp/crash.pid" ] && [ -S "$sock" ] && break
    sleep 0.1
  done
  crash_pid=$(cat "$tmp/crash.pid")
}

crash_kill_test ()
{
  local p=$1 img=$2 iters=$3 check=$4 i delay
  shift 4
  local sock="$tmp/crash.sock" base="$tmp/crash-base.raw"
  local log="$tmp/crash.log"

  crash_kills=0
  serve_to_raw "$p" "$img" "$base" "$@"
  for (( i = 1; i <= iters; i++ )); do
    rm -f "$log"
    _crash_serve "$p" "$img" "$sock" "$@"
    "$crash_client" run "$sock" "$i" 100000 64 "$log" &
    local client=$!
    # 20 ms to 1 s of writing before the kill.
    delay=$(( 20 + (i * 7919) % 980 ))
    sleep "$(printf '%d.%03d' $(( delay / 1000 )) $(( delay % 1000 )))"
    kill -9 "$crash_pid"
    wait "$client" 2>/dev/null || :
    wait 2>/dev/null || :
    crash_kills=$(( crash_kills + 1 ))
    grep -c '^I' "$log" || :

    nbdkit -U - "$(plugin "$p")" file="$img" "$@" \
      --run "'$crash_client' verify \"\$unixsocket\" $i '$log' '$base'"
    $check "$img"
    serve_to_raw "$p" "$img" "$base" "$@"
  done
}

# Several clients at once over multi-conn, each writing its own stripe
# of the disk, then every sector verified.
crash_concurrent_test ()
{
  local p=$1 img=$2 threads=$3 check=$4
  shift 4
  local base="$tmp/conc-base.raw" log="$tmp/conc.log"

  rm -f "$log"
  serve_to_raw "$p" "$img" "$base" "$@"
  nbdkit -U - "$(plugin "$p")" file="$img" "$@" \
    --run "'$crash_client' run \"\$unixsocket\" 4242 $(( threads * 300 )) 40 '$log' $threads"
  nbdkit -U - "$(plugin "$p")" file="$img" "$@" \
    --run "'$crash_client' verify \"\$unixsocket\" 4242 '$log' '$base'"
  $check "$img"
}
