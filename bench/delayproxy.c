/* xdisk bench: a TCP proxy on 127.0.0.1 that delays every chunk of data
 * by half the round-trip time in each direction (a link with latency and
 * no bandwidth cap, order kept).  bench/remote-chain compiles it with cc
 * and puts it in front of lighttpd and sshd, because this kernel has no
 * sch_netem for `tc qdisc ... netem delay`, and the nbdkit delay filter
 * only delays the requests that go through nbdkit.
 *
 * Usage: delayproxy RTT_MS TARGET_PORT PORT_FILE
 * Listens on a free port of 127.0.0.1 and writes its number to PORT_FILE
 * (written to a temporary name and renamed, so a reader never sees half
 * of it), then forwards each connection to 127.0.0.1:TARGET_PORT until
 * killed.  One thread, epoll, level-triggered.
 *
 * Each read from one side becomes a chunk stamped with the time it may
 * leave (now + RTT/2); due chunks are written to the other side with
 * writev, in order.  An end of file is queued like data, so a half-close
 * arrives late too.  A direction holding QUEUE_MAX bytes stops reading
 * until it drains to half (the window a real link's buffers would give:
 * far more than the bandwidth-delay product of loopback at 5 ms).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define QUEUE_MAX (64 * 1024 * 1024)
#define IOV_MAX_BATCH 64

struct chunk {
  struct chunk *next;
  uint64_t due_ns;              /* may be written from this time on */
  size_t len, off;              /* len == 0: the end of file */
  char data[];
};

/* One direction of a connection: read from src, queued, written to dst. */
struct dir {
  int src, dst;
  struct chunk *head, *tail;
  size_t queued;                /* bytes in the queue */
  int reading;                  /* src is read (not at EOF, not full) */
  int waiting_out;              /* dst said EAGAIN: wait for EPOLLOUT */
  int done;                     /* the EOF went out */
};

struct conn {
  int fd[2];                    /* 0: the client, 1: the target */
  struct dir dir[2];            /* 0: client to target, 1: back */
  int dead;
  struct conn *next, *next_dead;
};

/* What an epoll event points at: the listener (conn == NULL) or one
 * side of a connection. */
struct end {
  struct conn *conn;
  int side;
};

/* Shared, read-only once the threads run. */
static int target_port, listen_port;
static uint64_t half_rtt_ns;

/* Each thread has its own epoll, listener and connections. */
static __thread int ep, listen_fd;
static __thread struct conn *conns, *dead_conns;
static __thread struct end listener_end;

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die (const char *what)
{
  perror (what);
  exit (EXIT_FAILURE);
}

static void
set_nonblock (int fd)
{
  int flags = fcntl (fd, F_GETFL);
  if (flags == -1 || fcntl (fd, F_SETFL, flags | O_NONBLOCK) == -1)
    die ("fcntl");
}

/* The events side S of C waits for: reading its outgoing direction's
 * source, writing its incoming direction's destination. */
static void
update_interest (struct conn *c, int s)
{
  struct epoll_event ev = { .events = 0 };
  if (c->dir[s].reading)
    ev.events |= EPOLLIN;
  if (c->dir[1 - s].waiting_out)
    ev.events |= EPOLLOUT;
  ev.data.ptr = &((struct end *) (c + 1))[s];
  /* ENOENT: the side was dropped from epoll after its hang-up. */
  if (epoll_ctl (ep, EPOLL_CTL_MOD, c->fd[s], &ev) == -1 && errno != ENOENT)
    die ("epoll_ctl MOD");
}

static void
kill_conn (struct conn *c)
{
  if (c->dead)
    return;
  c->dead = 1;
  close (c->fd[0]);
  close (c->fd[1]);
  c->next_dead = dead_conns;
  dead_conns = c;
}

static void
free_dead (void)
{
  while (dead_conns) {
    struct conn *c = dead_conns, **p;
    dead_conns = c->next_dead;
    for (p = &conns; *p != c; p = &(*p)->next)
      ;
    *p = c->next;
    for (int d = 0; d < 2; d++)
      while (c->dir[d].head) {
        struct chunk *k = c->dir[d].head;
        c->dir[d].head = k->next;
        free (k);
      }
    free (c);
  }
}

/* Append K, holding LEN bytes, to D's queue. */
static void
enqueue (struct dir *d, struct chunk *k, size_t len, uint64_t due)
{
  k->next = NULL;
  k->due_ns = due;
  k->len = len;
  k->off = 0;
  if (d->tail)
    d->tail->next = k;
  else
    d->head = k;
  d->tail = k;
  d->queued += len;
}

/* Read what side S has to send into its direction's queue. */
static void
do_read (struct conn *c, int s)
{
  struct dir *d = &c->dir[s];
  uint64_t due = now_ns () + half_rtt_ns;
  int reads = 0;

  /* A few reads per event, so that one fast source cannot starve the
   * other connections. */
  while (d->reading && d->queued < QUEUE_MAX && reads++ < 16) {
    /* Read straight into a chunk (no copy); a short read gives the
     * rest of the chunk back. */
    struct chunk *k = malloc (sizeof *k + READ_SIZE);
    if (!k)
      die ("malloc");
    ssize_t r = read (d->src, k->data, READ_SIZE);
    if (r > 0) {
      if (r < READ_SIZE / 2) {
        struct chunk *small = realloc (k, sizeof *k + r);
        if (small)
          k = small;
      }
      enqueue (d, k, r, due);
    }
    else if (r == 0) {
      enqueue (d, k, 0, due);
      d->reading = 0;
    }
    else {
      free (k);
      if (errno != EAGAIN && errno != EINTR)
        kill_conn (c);
      return;
    }
  }
  if (d->queued >= QUEUE_MAX)
    d->reading = 0;
}

/* Write the due chunks of direction WHICH, then make the epoll interest
 * of both sides follow its state. */
static void
flush_dir (struct conn *c, int which, uint64_t now)
{
  struct dir *d = &c->dir[which];
  int was_reading = d->reading, was_waiting = d->waiting_out;

  while (d->head && d->head->due_ns <= now && !c->dead) {
    struct iovec iov[IOV_MAX_BATCH];
    int n = 0;
    struct chunk *k;

    if (d->head->len == 0) {    /* the EOF */
      struct chunk *eof = d->head;
      d->head = eof->next;
      if (!d->head)
        d->tail = NULL;
      free (eof);
      shutdown (d->dst, SHUT_WR);
      d->done = 1;
      if (c->dir[1 - which].done)
        kill_conn (c);
      break;
    }
    for (k = d->head; k && n < IOV_MAX_BATCH && k->len && k->due_ns <= now;
         k = k->next) {
      iov[n].iov_base = k->data + k->off;
      iov[n].iov_len = k->len - k->off;
      n++;
    }
    ssize_t w = writev (d->dst, iov, n);
    if (w < 0) {
      if (errno == EAGAIN) {
        d->waiting_out = 1;
        break;
      }
      if (errno == EINTR)
        continue;
      kill_conn (c);
      return;
    }
    d->waiting_out = 0;
    d->queued -= w;
    while (w > 0) {
      k = d->head;
      size_t left = k->len - k->off;
      if ((size_t) w < left) {
        k->off += w;
        w = 0;
      }
      else {
        w -= left;
        d->head = k->next;
        if (!d->head)
          d->tail = NULL;
        free (k);
      }
    }
  }
  if (c->dead)
    return;
  if (!d->head)
    d->waiting_out = 0;
  /* Resume reading once the queue has drained to half. */
  if (!d->reading && !d->done && d->queued < QUEUE_MAX / 2 &&
      !(d->tail && d->tail->len == 0))
    d->reading = 1;
  if (d->reading != was_reading)
    update_interest (c, which);
  if (d->waiting_out != was_waiting)
    update_interest (c, 1 - which);
}

static void
add_fd (int fd, struct end *e, uint32_t events)
{
  struct epoll_event ev = { .events = events, .data.ptr = e };
  if (epoll_ctl (ep, EPOLL_CTL_ADD, fd, &ev) == -1)
    die ("epoll_ctl ADD");
}

static void
do_accept (void)
{
  for (;;) {
    int cfd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd == -1) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        perror ("accept4");
      return;
    }
    int tfd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {
      .sin_family = AF_INET,
      .sin_port = htons (target_port),
      .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
    };
    /* A blocking connect to loopback completes at once; the socket is
     * made non-blocking after. */
    if (tfd == -1 || connect (tfd, (struct sockaddr *) &sa, sizeof sa) == -1) {
      perror ("connect to target");
      close (cfd);
      if (tfd != -1)
        close (tfd);
      continue;
    }
    set_nonblock (tfd);
    int one = 1;
    setsockopt (cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt (tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    /* The two ends live right after the conn (see update_interest). */
    struct conn *c = calloc (1, sizeof *c + 2 * sizeof (struct end));
    if (!c)
      die ("calloc");
    struct end *ends = (struct end *) (c + 1);
    c->fd[0] = cfd;
    c->fd[1] = tfd;
    for (int s = 0; s < 2; s++) {
      c->dir[s].src = c->fd[s];
      c->dir[s].dst = c->fd[1 - s];
      c->dir[s].reading = 1;
      ends[s].conn = c;
      ends[s].side = s;
      add_fd (c->fd[s], &ends[s], EPOLLIN);
    }
    c->next = conns;
    conns = c;
  }
}

/* Flush every direction with due data; return the nanoseconds until the
 * next chunk falls due (-1: none waiting on time alone). */
static int64_t
flush_all (void)
{
  uint64_t now = now_ns ();
  int64_t wait = -1;

  for (struct conn *c = conns; c; c = c->next) {
    for (int d = 0; d < 2 && !c->dead; d++) {
      if (!c->dir[d].waiting_out)
        flush_dir (c, d, now);
      if (c->dead || !c->dir[d].head || c->dir[d].waiting_out)
        continue;
      int64_t left = (int64_t) (c->dir[d].head->due_ns - now);
      if (left < 0)
        left = 0;
      if (wait < 0 || left < wait)
        wait = left;
    }
  }
  free_dead ();
  return wait;
}

/* Listen on LISTEN_PORT (0: a free one, then remembered) with
 * SO_REUSEPORT, so that every thread has a listener on the same port and
 * the kernel spreads the connections over them. */
static void
listen_on_port (void)
{
  struct sockaddr_in sa = {
    .sin_family = AF_INET,
    .sin_port = htons (listen_port),
    .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
  };
  socklen_t len = sizeof sa;
  int one = 1;

  listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd == -1 ||
      setsockopt (listen_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1 ||
      bind (listen_fd, (struct sockaddr *) &sa, sizeof sa) == -1 ||
      listen (listen_fd, 128) == -1 ||
      getsockname (listen_fd, (struct sockaddr *) &sa, &len) == -1)
    die ("listen");
  listen_port = ntohs (sa.sin_port);
  ep = epoll_create1 (EPOLL_CLOEXEC);
  if (ep == -1)
    die ("epoll_create1");
  add_fd (listen_fd, &listener_end, EPOLLIN);
}

static void
write_port_file (const char *port_file)
{
  char tmp_name[4096];
  FILE *fp;

  snprintf (tmp_name, sizeof tmp_name, "%s.tmp", port_file);
  fp = fopen (tmp_name, "w");
  if (!fp || fprintf (fp, "%d\n", listen_port) < 0 ||
      fclose (fp) == EOF || rename (tmp_name, port_file) == -1)
    die (port_file);
}

static void *
event_loop (void *arg)
{
  if (arg)                      /* a new thread: its own listener */
    listen_on_port ();
  for (;;) {
    struct epoll_event evs[64];
    int64_t wait = flush_all ();
    struct timespec ts = { wait / 1000000000, wait % 1000000000 };
    int n = epoll_pwait2 (ep, evs, 64, wait < 0 ? NULL : &ts, NULL);
    if (n == -1) {
      if (errno == EINTR)
        continue;
      die ("epoll_pwait2");
    }
    for (int i = 0; i < n; i++) {
      struct end *e = evs[i].data.ptr;
      struct conn *c = e->conn;
      if (!c) {
        do_accept ();
        continue;
      }
      if (c->dead)
        continue;
      /* EPOLLOUT: the other direction's destination is this side. */
      if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        struct dir *out = &c->dir[1 - e->side];
        if (out->waiting_out) {
          out->waiting_out = 0;
          flush_dir (c, 1 - e->side, now_ns ());
          if (!c->dead && !out->waiting_out)
            update_interest (c, e->side);
        }
      }
      if (!c->dead && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
          c->dir[e->side].reading) {
        int was = c->dir[e->side].reading;
        do_read (c, e->side);
        if (!c->dead && c->dir[e->side].reading != was)
          update_interest (c, e->side);
      }
      /* A hang-up or error is reported whatever the interest: a side
       * with nothing left to do leaves epoll, or it would wake us in a
       * loop until the other direction's delayed data is out. */
      if (!c->dead && (evs[i].events & (EPOLLHUP | EPOLLERR)) &&
          !c->dir[e->side].reading && !c->dir[1 - e->side].waiting_out) {
        if (evs[i].events & EPOLLERR)
          kill_conn (c);
        else
          epoll_ctl (ep, EPOLL_CTL_DEL, c->fd[e->side], NULL);
      }
    }
    free_dead ();
  }
  return NULL;
}

int
main (int argc, char *argv[])
{
  if (argc < 4 || argc > 5) {
    fprintf (stderr, "usage: delayproxy RTT_MS TARGET_PORT PORT_FILE [THREADS]\n");
    exit (EXIT_FAILURE);
  }
  double rtt_ms = atof (argv[1]);
  int threads = argc == 5 ? atoi (argv[4]) : 2;
  target_port = atoi (argv[2]);
  if (rtt_ms < 0 || rtt_ms > 60000 || target_port <= 0 ||
      target_port > 65535 || threads < 1 || threads > 64) {
    fprintf (stderr, "delayproxy: bad RTT_MS, TARGET_PORT or THREADS\n");
    exit (EXIT_FAILURE);
  }
  half_rtt_ns = (uint64_t) (rtt_ms * 1e6 / 2);
  signal (SIGPIPE, SIG_IGN);

  /* The main thread's listener picks the port, the others share it. */
  listen_on_port ();
  for (int i = 1; i < threads; i++) {
    pthread_t t;
    if (pthread_create (&t, NULL, event_loop, &listen_port) != 0)
      die ("pthread_create");
  }
  write_port_file (argv[3]);
  event_loop (NULL);
  return 0;
}
