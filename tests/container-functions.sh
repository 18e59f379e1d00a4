# Functions of the container tests (tests/test-container.sh,
# tests/test-kube-play.sh), sourced after functions.sh.  They run in
# 'make check-container', not in 'make check': building the image takes
# minutes.
#
# These machines reach no container registry, so the base image is
# made from Debian's archive: mmdebstrap --variant=minbase bookworm,
# then podman import; the Containerfile takes it as --build-arg BASE.
# podman runs here only with the runc runtime, cgroupfs as the cgroup
# manager and no default ulimits (the default raises RLIMIT_NOFILE
# above what the sandbox allows), so every podman command goes through
# the podman function below with those settings.

# Image names.  The base and the image are kept between runs: podman
# build reuses the layers whose inputs did not change.
container_base_image=localhost/xdisk-test-base:bookworm
container_image=localhost/xdisk:test

podman ()
{
  command podman --runtime=runc --cgroup-manager=cgroupfs "$@"
}

# requires_podman: podman, runc and mmdebstrap are installed (else a
# missing requirement) and podman can run a container here (else a
# skip: some sandboxes allow no namespaces or overlay mounts).
requires_podman ()
{
  requires command -v podman
  requires command -v runc
  requires command -v mmdebstrap
  [ "$(id -u)" = 0 ] ||
    skip_allowed "the container tests run podman as root (rootless podman needs subuids set up)"
  local conf
  conf=$(mktemp "${TMPDIR:-/tmp}/xdisk-containers.XXXXXX.conf")
  cleanup_fn rm -f "$conf"
  printf '[containers]\ndefault_ulimits = []\n' > "$conf"
  export CONTAINERS_CONF=$conf
  podman info > "$conf.info" 2>&1 || {
    cat "$conf.info"
    rm -f "$conf.info"
    skip_allowed "podman cannot run here (podman info failed)"
  }
  rm -f "$conf.info"
}

# container_base: makes $container_base_image unless it exists.
container_base ()
{
  local tar
  podman image exists "$container_base_image" && return 0
  tar=$(mktemp "${TMPDIR:-/tmp}/xdisk-base.XXXXXX.tar")
  cleanup_fn rm -f "$tar"
  # The archive's bookworm and bookworm-security, as debian:12-slim has.
  mmdebstrap --quiet --variant=minbase bookworm "$tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  podman import --quiet "$tar" "$container_base_image" >/dev/null
  rm -f "$tar"
  # A container must start, or nothing here can run.
  podman run --rm "$container_base_image" true ||
    skip_allowed "podman cannot start a container here"
}

# container_build: builds $container_image from the source tree with
# the Containerfile (podman reuses cached layers).
container_build ()
{
  container_base
  podman build --build-arg BASE="$container_base_image" \
    -f "$top_srcdir/contrib/container/Containerfile" \
    -t "$container_image" "$top_srcdir"
}
