# Helpers for the filter tests: servers started on 127.0.0.1 by the test
# itself and stopped when it exits.  Sourced after functions.sh.

# The built filter NAME, as a path nbdkit can dlopen.
filter ()
{
  echo "$top_builddir/filters/$1/.libs/nbdkit-$1-filter.so"
}

requires_filter ()
{
  requires test -f "$(filter "$1")"
}

# A free TCP port on 127.0.0.1 (there is a race between finding it and
# using it; callers retry on failure).
free_port ()
{
  python3 -c 'import socket
s = socket.socket (); s.bind (("127.0.0.1", 0)); print (s.getsockname ()[1])'
}

# Serve directory DIR over HTTP on 127.0.0.1 with lighttpd, which
# answers range requests; sets $web_port.
start_web_server ()
{
  local dir=$1 conf=$tmp/lighttpd.conf try
  for try in 1 2 3; do
    web_port=$(free_port)
    cat > "$conf" <<EOC
server.document-root = "$dir"
server.bind = "127.0.0.1"
server.port = $web_port
server.pid-file = "$tmp/lighttpd.pid"
server.errorlog = "$tmp/lighttpd.log"
mimetype.assign = ( "" => "application/octet-stream" )
server.stat-cache-engine = "disable"
EOC
    rm -f "$tmp/lighttpd.pid"
    if lighttpd -f "$conf" && wait_for_file "$tmp/lighttpd.pid"; then
      cleanup_fn kill "$(cat "$tmp/lighttpd.pid")"
      return 0
    fi
  done
  echo "$0: could not start lighttpd"
  return 1
}

# Start sshd on 127.0.0.1 with throw-away host and user keys, accepting
# the current user by key only; sets $ssh_port and $ssh_key.
start_sshd ()
{
  local d=$tmp/ssh try
  # sshd wants its privilege separation directory, made by the service
  # scripts that a test machine may never have run.
  mkdir -p /run/sshd 2>/dev/null || :
  mkdir -p "$d"
  chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$d/user_key"
  cp "$d/user_key.pub" "$d/authorized_keys"
  ssh_key=$d/user_key
  for try in 1 2 3; do
    ssh_port=$(free_port)
    cat > "$d/sshd_config" <<EOC
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
EOC
    rm -f "$d/sshd.pid"
    if "$(command -v sshd)" -f "$d/sshd_config" -E "$d/sshd.log" &&
       wait_for_file "$d/sshd.pid"; then
      cleanup_fn kill "$(cat "$d/sshd.pid")"
      return 0
    fi
  done
  cat "$d/sshd.log" || :
  echo "$0: could not start sshd"
  return 1
}

# Wait up to 30 s (times XDISK_TIMEOUT_SCALE) for FILE to appear.
wait_for_file ()
{
  wait_for 30 "$1" test -s "$1"
}
