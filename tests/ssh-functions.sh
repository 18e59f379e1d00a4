# An sshd with SFTP on 127.0.0.1 for the ssh:// tests, sourced after
# functions.sh (remote-sources.md §6.2):
#
#   source "$srcdir/ssh-functions.sh"
#   requires_sshd
#   start_sshd            # or: start_sshd "PasswordAuthentication yes"
#
# Everything lives in $tmp/ssh: a host key, a client key
# ($ssh_identity) authorised for root, a known-hosts file holding the
# host key ($ssh_known_hosts) and an empty one ($ssh_no_known_hosts).
# The server listens on a port chosen free at run time ($ssh_port) and
# is stopped when the test exits.  Nothing outside $tmp is changed.

# Skip unless sshd can run here: it must be root (privilege separation,
# and logging in as root), with OpenSSH's server and sftp-server.
requires_sshd ()
{
  [ "$(id -u)" = 0 ] ||
    skip_allowed "sshd needs root to run (and to log in as root)"
  local f
  for f in /usr/sbin/sshd /usr/lib/openssh/sftp-server /usr/bin/ssh-keygen \
           /usr/bin/ssh-keyscan; do
    if [ ! -x "$f" ]; then
      missing "$f is not installed (Debian: openssh-server)"
      exit 77
    fi
  done
  [ -d /run/sshd ] ||
    skip_allowed "/run/sshd (sshd's privilege separation directory) is absent"
}

# A TCP port on 127.0.0.1 that is free now.
free_port ()
{
  python3 -c 'import socket
s = socket.socket ()
s.bind (("127.0.0.1", 0))
print (s.getsockname ()[1])'
}

# Keys, once per test.
_ssh_keys ()
{
  ssh_dir=$tmp/ssh
  [ -d "$ssh_dir" ] && return 0
  mkdir -m 700 "$ssh_dir"
  ssh-keygen -q -t ed25519 -N '' -C xdisk-host -f "$ssh_dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -C xdisk-client -f "$ssh_dir/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C xdisk-other -f "$ssh_dir/id_other"
  cp "$ssh_dir/id_ed25519.pub" "$ssh_dir/authorized_keys"
  ssh_identity=$ssh_dir/id_ed25519
  ssh_wrong_identity=$ssh_dir/id_other
  : > "$ssh_dir/no_known_hosts"
  ssh_no_known_hosts=$ssh_dir/no_known_hosts
}

# start_sshd [CONFIG-LINE...]: start sshd in the foreground (-D -e) in
# the background, check its configuration first (sshd -t), and wait
# until it accepts connections.  Sets ssh_port, ssh_known_hosts,
# ssh_pid.  CONFIG-LINEs are added (they come first, so they win).
start_sshd ()
{
  local conf try i
  _ssh_keys
  for try in 1 2 3; do
    ssh_port=$(free_port)
    conf=$ssh_dir/sshd_config.$ssh_port
    {
      printf '%s\n' "$@"
      cat <<EOF
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $ssh_dir/host_key
PidFile $ssh_dir/sshd.$ssh_port.pid
AuthorizedKeysFile $ssh_dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
MaxStartups 100
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    } > "$conf"
    /usr/sbin/sshd -t -f "$conf"
    /usr/sbin/sshd -D -e -f "$conf" 2>> "$ssh_dir/sshd.log" &
    ssh_pid=$!
    cleanup_fn kill $ssh_pid
    # Up to 10 s for it to listen; gone early means the port was taken.
    for (( i = 0; i < 100; i++ )); do
      kill -0 $ssh_pid 2>/dev/null || break
      if ssh-keyscan -T 2 -p $ssh_port 127.0.0.1 > "$ssh_dir/scan" 2>/dev/null &&
         [ -s "$ssh_dir/scan" ]; then
        # The form of a port other than 22: [127.0.0.1]:PORT type base64.
        ssh_known_hosts=$ssh_dir/known_hosts.$ssh_port
        echo "[127.0.0.1]:$ssh_port $(cut -d' ' -f1,2 "$ssh_dir/host_key.pub")" \
          > "$ssh_known_hosts"
        return 0
      fi
      sleep 0.1
    done
    kill $ssh_pid 2>/dev/null || :
    wait $ssh_pid 2>/dev/null || :
  done
  cat "$ssh_dir/sshd.log"
  echo "$0: sshd did not start"
  exit 1
}
