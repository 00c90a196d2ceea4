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
//   gcc -O2 -pthread benches/kernel-floor.c -o /tmp/kernel-floor && /tmp/kernel-floor
//   /tmp/kernel-floor <batch=100> <frame=165> <batches=20000>

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(int argc, char **argv) {
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
