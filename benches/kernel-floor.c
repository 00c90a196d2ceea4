// The kernel's floor under fan-out: what the sending side of loopback TCP costs per frame,
// with nothing of a WebSocket server around it. One socket, a reader thread draining the
// other end, frames of FRAME bytes written in batches of BATCH per syscall, either as one
// iovec per frame (what the engine does with shared pre-framed buffers) or copied into one
// flat buffer first. Prints the sending thread's CPU per frame (CLOCK_THREAD_CPUTIME_ID:
// the syscall, the copy, and the receiver's softirq work, which loopback charges to the
// sender).
//
// This is a best case (one socket, caches hot, no event loop): a server fanning out to a
// thousand sockets pays at least this per delivery in the kernel (benches/README.md).
//
// `fanout` mode is the shape of the vs-uws fan-out scenario with nothing but the kernel in
// it: SOCKETS loopback connections, EVENTS frames each, PER_TURN frames per socket per write
// (the engine's publish run of one JS turn), one epoll reader thread draining every receiver
// with 64 KiB reads (the cheapest possible load generator). Prints the writer's and the
// reader's CPU per delivery.
//
//   gcc -O2 -pthread benches/kernel-floor.c -o /tmp/kernel-floor && /tmp/kernel-floor
//   /tmp/kernel-floor <batch=100> <frame=165> <batches=20000>
//   /tmp/kernel-floor fanout <sockets=1000> <events=1000> <per_turn=100> <frame=165> <rounds=5> <spin=0>
//
// `spin` slows the reader down (busy iterations per byte read) to the pace of a real client:
// a slower reader leaves more bytes in flight, and the writer's copies land on colder pages.
//
// benches/vs-uws.js runs the fanout mode once per round beside the two servers.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void *drain(void *arg) {
  int fd = *(int *)arg;
  static char buf[1 << 16];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  return NULL;
}

static double thread_cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/** A connected loopback pair: `*sender` (TCP_NODELAY, as the server's sockets) and `*receiver`. */
static int pair(int *sender, int *receiver) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0 || bind(listener, (void *)&addr, sizeof addr) || listen(listener, 1) ||
      getsockname(listener, (void *)&addr, &len))
    return -1;
  *receiver = socket(AF_INET, SOCK_STREAM, 0);
  if (*receiver < 0 || connect(*receiver, (void *)&addr, sizeof addr)) return -1;
  *sender = accept(listener, NULL, NULL);
  close(listener);
  int one = 1;
  return *sender < 0 ? -1 : setsockopt(*sender, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static double run(int flat, int batch, int frame_size, long batches) {
  int sender, receiver;
  if (pair(&sender, &receiver)) {
    perror("loopback pair");
    exit(1);
  }
  pthread_t reader;
  pthread_create(&reader, NULL, drain, &receiver);
  char *frame = malloc(frame_size);
  char *buffer = malloc((size_t)batch * frame_size);
  struct iovec *iov = malloc(sizeof *iov * batch);
  memset(frame, 'x', frame_size);
  const size_t total = (size_t)batch * frame_size;
  double start = thread_cpu();
  for (long k = 0; k < batches; k++) {
    if (flat) {
      for (int i = 0; i < batch; i++) memcpy(buffer + (size_t)i * frame_size, frame, frame_size);
    }
    for (int i = 0; i < batch; i++) iov[i] = (struct iovec){.iov_base = frame, .iov_len = frame_size};
    size_t done = 0;
    int first = 0; // the first iovec not yet written whole
    while (done < total) { // blocking: a short write only when interrupted
      ssize_t n = flat ? write(sender, buffer + done, total - done) : writev(sender, iov + first, batch - first);
      if (n < 0) {
        perror("write");
        exit(1);
      }
      done += (size_t)n;
      for (size_t left = (size_t)n; !flat && left > 0;) {
        size_t take = left < iov[first].iov_len ? left : iov[first].iov_len;
        iov[first].iov_base = (char *)iov[first].iov_base + take;
        iov[first].iov_len -= take;
        left -= take;
        if (iov[first].iov_len == 0) first++;
      }
    }
  }
  double cpu = thread_cpu() - start;
  shutdown(sender, SHUT_WR);
  pthread_join(reader, NULL);
  close(sender);
  close(receiver);
  free(frame);
  free(buffer);
  free(iov);
  return cpu / ((double)batches * batch) * 1e6;
}

struct fanout_reader {
  int epoll, sockets;
  long spin; // busy-loop iterations per byte read: a slower reader, like a real client
  long long expected, received;
  double cpu;
};

static void *fanout_drain(void *arg) {
  struct fanout_reader *r = arg;
  static char buf[1 << 16];
  struct epoll_event events[256];
  double start = thread_cpu();
  while (r->received < r->expected) {
    int n = epoll_wait(r->epoll, events, 256, 1000);
    for (int i = 0; i < n; i++) {
      ssize_t got;
      while ((got = read(events[i].data.fd, buf, sizeof buf)) > 0) {
        r->received += got;
        for (volatile long k = 0; k < got * r->spin; k++) {
        }
      }
    }
  }
  r->cpu = thread_cpu() - start;
  return NULL;
}

static int fanout(int sockets, int events, int per_turn, int frame_size, long spin) {
  int *senders = malloc(sizeof(int) * sockets), *receivers = malloc(sizeof(int) * sockets);
  struct fanout_reader r = {.epoll = epoll_create1(0), .sockets = sockets, .spin = spin};
  for (int i = 0; i < sockets; i++) {
    int receiver;
    if (pair(&senders[i], &receiver)) {
      perror("loopback pair (raise ulimit -n?)");
      return 1;
    }
    int flags = 1;
    if (ioctl(receiver, FIONBIO, &flags)) return perror("FIONBIO"), 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = receiver};
    epoll_ctl(r.epoll, EPOLL_CTL_ADD, receiver, &ev);
    receivers[i] = receiver;
  }
  size_t run = (size_t)per_turn * frame_size;
  char *buffer = malloc(run);
  memset(buffer, 'x', run);
  r.expected = (long long)sockets * events * frame_size;
  pthread_t reader;
  pthread_create(&reader, NULL, fanout_drain, &r);
  double start = thread_cpu();
  for (int sent = 0; sent < events; sent += per_turn) {
    for (int i = 0; i < sockets; i++) {
      for (size_t done = 0; done < run;) { // blocking sockets: waits while the receiver drains
        ssize_t n = write(senders[i], buffer + done, run - done);
        if (n < 0) return perror("write"), 1;
        done += (size_t)n;
      }
    }
  }
  double writer = thread_cpu() - start;
  pthread_join(reader, NULL);
  double deliveries = (double)sockets * events;
  printf("  writer %.3f us, reader %.3f us per delivery\n", writer / deliveries * 1e6, r.cpu / deliveries * 1e6);
  // Reset instead of a close handshake: 1000 pairs per round would otherwise leave their
  // ports in TIME_WAIT and run the machine out of ephemeral ports after a few runs.
  struct linger reset = {.l_onoff = 1, .l_linger = 0};
  for (int i = 0; i < sockets; i++) {
    setsockopt(senders[i], SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(senders[i]);
    close(receivers[i]);
  }
  close(r.epoll);
  free(senders);
  free(receivers);
  free(buffer);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "fanout")) {
    int sockets = argc > 2 ? atoi(argv[2]) : 1000, events = argc > 3 ? atoi(argv[3]) : 1000;
    int per_turn = argc > 4 ? atoi(argv[4]) : 100, frame = argc > 5 ? atoi(argv[5]) : 165;
    int rounds = argc > 6 ? atoi(argv[6]) : 5;
    long spin = argc > 7 ? atol(argv[7]) : 0;
    struct rlimit lim = {.rlim_cur = 65536, .rlim_max = 65536};
    setrlimit(RLIMIT_NOFILE, &lim);
    printf("loopback TCP fan-out, %d sockets x %d frames of %d B, %d frames per write:\n", sockets, events,
           frame, per_turn);
    for (int round = 0; round < rounds; round++)
      if (fanout(sockets, events, per_turn, frame, spin)) return 1;
    return 0;
  }
  int batch = argc > 1 ? atoi(argv[1]) : 100;
  int frame = argc > 2 ? atoi(argv[2]) : 165;
  long batches = argc > 3 ? atol(argv[3]) : 20000;
  printf("loopback TCP, %d frames of %d B per syscall, %ld syscalls, sender CPU per frame:\n", batch, frame,
         batches);
  for (int round = 0; round < 3; round++) {
    double iov = run(0, batch, frame, batches);
    double flat = run(1, batch, frame, batches);
    printf("  round %d: one iovec per frame %.3f us, copied flat first %.3f us\n", round + 1, iov, flat);
  }
  return 0;
}
