/*
 * TEST FIXTURE, not NCCL: a fake libnccl.so.2 for panama-nccl's tests on machines without a GPU. Written from our
 * API facts (/work/shared/reference/nccl-cuda-api.md) and NCCL's public documentation (the NCCL User Guide,
 * docs.nvidia.com/deeplearning/nccl), never from NCCL sources. It implements every function declared in
 * native-headers/nccl_api.h. Device memory is host memory (the fake libcudart's), so "GPU" buffers are plain
 * pointers that this library reads and writes.
 *
 * What it models, and the documentation each behaviour follows:
 * - Arguments are checked as NCCL does (NULL out-pointers, root/peer/datatype/op ranges, ncclConfig_t
 *   magic/blocking, fields newer than the config's version reset to their defaults): "Communicator Creation and
 *   Management Functions", "ncclConfig_t".
 * - ncclGetUniqueId starts a bootstrap root listener on 127.0.0.1 in the calling process (one thread per id) and
 *   encodes its address and a random nonce into the 128 bytes; the rest of the id is derived from the nonce, so a
 *   corrupted id is refused ("Creating a Communicator": the id carries the root's address).
 * - ncclCommInitRank / ncclCommInitRankConfig / ncclCommInitAll with nranks > 1: every rank connects to the root
 *   and reports nranks, rank, version and its CUDA device's PCI bus id; the root refuses mismatched nranks, a rank
 *   joining twice, "Mismatched NCCL version detected" (2.23.4+) and "Duplicate GPU detected" (two ranks on one
 *   bus id; the device is the caller's current one, read from the fake libcudart; from 2.30 on, a rank whose
 *   environment has NCCL_MULTI_RANK_GPU_ENABLE=1 accepts two ranks per GPU, so two such ranks may share one and a
 *   third may not), then hands every rank the others' addresses and the ranks connect to each other. Blocking
 *   config: the call returns when all ranks have arrived. Non-blocking (blocking = 0, "Non-blocking
 *   communicators"): the call returns ncclInProgress and ncclCommGetAsyncError answers ncclInProgress until the
 *   communicator is ready, or the error.
 * - ncclBroadcast / ncclBcast over nranks > 1 move the bytes root -> every rank over loopback TCP, ordered on the
 *   CUDA stream they were given ("CUDA Stream Semantics"): each launch is host work on that fake stream, so
 *   cudaStreamQuery, cudaStreamSynchronize, events and stream waits see the collective as pending until its bytes
 *   have moved (on the root: until every rank acknowledged them). Every rank announces each collective to every
 *   other (sequence number, count, datatype, root), so a count/datatype/root mismatch, or a different number of
 *   collectives, fails every rank with ncclInvalidUsage instead of hanging ("Collective Operations": every rank
 *   must pass the same arguments). A group (ncclGroupStart/End, "Group Calls") launches its collectives as one
 *   host work item per stream, progressed together, so one thread may drive several ranks.
 * - Faults ("Fault tolerance", error handling and communicator abort): a peer that exits, is killed, aborts or
 *   destroys its communicator closes its sockets; every rank with a pending collective then fails it with
 *   ncclRemoteError (an async error seen by ncclCommGetAsyncError), even when that peer's part of it had arrived
 *   (unless the peer said BYE, destroying its communicator after its part), and its stream does not complete. A
 *   failing rank shuts its own sockets so the failure reaches every rank, an idle one at its next collective. ncclCommAbort, from any thread, wakes every
 *   wait of the communicator at once, ends its host work (the stream then completes) and frees it; any call on it
 *   afterwards is refused. ncclInvalidArgument leaves a communicator usable; the asynchronous errors are fatal.
 * - Every wait is bounded: besides abort, nothing waits longer than the stall limit (30 s, see the controls) for a
 *   peer; then the communicator fails with ncclSystemError and a last error naming the limit (real NCCL would
 *   wait). A root whose ranks do not all arrive within the limit fails them the same way.
 * - nranks == 1: collectives copy send -> recv (with cudaMemcpyAsync semantics on the stream when the fake
 *   libcudart is loaded), a self send/receive pair moves data, non-blocking init/finalize answer ncclInProgress
 *   once.
 * Not modelled: performance, topology (rings, trees, channels, NVLink, SHM, networks), real kernels, reductions and
 * point-to-point between ranks (AllReduce, Reduce, AllGather, ReduceScatter, Send/Recv and Split over more than
 * one rank are refused with ncclInvalidUsage), user buffer registration effects, lazy connection setup, more than
 * 64 ranks, ranks on more than one host. Collectives over nranks > 1 need the fake libcudart (streams); without it
 * they are refused with ncclInvalidUsage.
 *
 * Test controls (exported, bound by src/test/java/io/github/panamanccl/testing/FakeNative.java):
 *   long fake_nccl_call_count(const char *function)   calls since the last reset; -1 for an unknown name
 *   void fake_nccl_reset(void)                         zero counters, drop pending failures, hang off, defaults
 *                                                      for the stall limit, version and receive pause
 *   void fake_nccl_fail_next(const char *function, int result)
 *                                                      the next call of function returns result
 *   void fake_nccl_fail_nth(const char *function, long n, int result)
 *                                                      the n-th call of function from now returns result (n <= 0:
 *                                                      cancels); one pending failure per function, the last set
 *   void fake_nccl_set_hang(int hang)                  1: non-blocking comms stay ncclInProgress
 *   long long fake_nccl_last_config(const char *field) a field of the last ncclConfig_t read
 *   long fake_nccl_live_comms(void)                    communicators created and not destroyed/aborted
 *   long long fake_nccl_last_out_address(const char *function)
 *                                                      address of the out-parameter this thread last passed to
 *                                                      ncclCommGetAsyncError or an int query; 0 when none
 *   void fake_nccl_set_stall_limit_ms(long ms)         the longest wait for a peer (default 30000)
 *   void fake_nccl_set_version(int code)               the version this library reports and rendezvous with
 *                                                      (0: 23007), to play a rank of another NCCL release
 *   void fake_nccl_pause_receiving_after(long long bytes)
 *                                                      this process stops reading broadcast payload after that
 *                                                      many more bytes (-1: never), as a rank stuck mid-transfer
 *   int fake_nccl_receiving_paused(void)               1 once a paused receive has stopped
 *   long long fake_nccl_payload_bytes(int received)    broadcast payload bytes this process sent (0) or
 *                                                      received (1) over the sockets since the last reset
 */
#define _GNU_SOURCE

#include "nccl_api.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FAKE_VERSION_CODE 23007
#define COMM_MAGIC 0x0fa6ec0du
#define SPLIT_NOCOLOR (-1)
#define MAX_RANKS 64
#define DEFAULT_STALL_LIMIT_MS 30000
/* How long a rank keeps retrying a bootstrap root that refuses connections before giving up. */
#define CONNECT_RETRY_MS 2000
/* How long ncclCommAbort waits for this communicator's running host work to notice it. */
#define ABORT_DRAIN_MS 5000
#define BUS_ID_BYTES 32
#define WIRE_MAGIC 0xfa6e0cc1u

static const char *const FUNCTIONS[] = {
    "ncclGetVersion", "ncclGetUniqueId", "ncclCommInitRank", "ncclCommInitRankConfig", "ncclCommInitAll",
    "ncclCommSplit", "ncclCommFinalize", "ncclCommDestroy", "ncclCommAbort", "ncclGetErrorString",
    "ncclGetLastError", "ncclCommGetAsyncError", "ncclCommCount", "ncclCommCuDevice", "ncclCommUserRank",
    "ncclBroadcast", "ncclBcast", "ncclAllReduce", "ncclReduce", "ncclAllGather", "ncclReduceScatter",
    "ncclSend", "ncclRecv", "ncclGroupStart", "ncclGroupEnd", "ncclMemAlloc", "ncclMemFree",
    "ncclCommRegister", "ncclCommDeregister",
};
#define FUNCTION_COUNT ((int)(sizeof FUNCTIONS / sizeof FUNCTIONS[0]))

/* ---- what travels between processes (one host, so native byte order) ---- */

enum wire_kind { BOOT_HELLO = 1, BOOT_TABLE, BOOT_ERROR, PEER_HELLO, FRAME_INTENT, FRAME_ACK, FRAME_BYE };

/* A rank to the bootstrap root. */
struct boot_hello {
  uint32_t magic, kind;
  uint64_t nonce;
  int32_t nranks, rank, version, port;
  char bus_id[BUS_ID_BYTES]; /* empty when the device is unknown (no fake libcudart) */
  int32_t ranks_per_gpu;     /* how many ranks of the communicator this rank accepts on its GPU */
};

/* The root's answer: every rank's address, or why the rendezvous failed. */
struct boot_table {
  uint32_t magic, kind;
  int32_t result;
  char message[240];
  int32_t ports[MAX_RANKS];
};

/* Opens a connection between two ranks. */
struct peer_hello {
  uint32_t magic, kind;
  uint64_t nonce;
  int32_t rank, unused;
};

/* Per collective and link: the announcement (followed by the payload from the root), the acknowledgement, or
 * BYE from a rank that destroyed its communicator. */
struct frame {
  uint32_t magic, kind;
  uint64_t seq;
  uint64_t count;
  int32_t datatype, root, status, unused;
};

/* ---- state ---- */

enum comm_state { COMM_INITIALIZING, COMM_READY, COMM_FAILED };

struct ncclComm {
  unsigned magic;
  int nranks;
  int rank;
  int device;
  int blocking;
  int version; /* the version code when it was created, which it rendezvous with */
  char bus_id[BUS_ID_BYTES];
  int pending_polls; /* nranks == 1: ncclCommGetAsyncError answers ncclInProgress this many more times */
  /* nranks == 1: a self send or receive waiting for its partner. */
  const void *pending_send;
  void *pending_recv;
  size_t pending_count;
  int pending_type;
  /* nranks > 1; fields below are guarded by the lock unless noted. */
  ncclUniqueId id;
  enum comm_state state;
  ncclResult_t error;         /* the asynchronous error once COMM_FAILED */
  int finalizing;
  atomic_int aborting;        /* set once by abort/destroy */
  int wake_fd;                /* eventfd, signalled once by abort/destroy and never read: wakes every poll */
  int listen_fd;
  int *peers;                 /* socket to each rank (-1 for this rank); fixed once the communicator is ready */
  pthread_t init_thread;
  int has_init_thread;
  uint64_t launched;          /* collectives launched: the last sequence number handed out */
  uint64_t finished;          /* the last collective whose host work ended (they end in order) */
  int running;                /* host work items executing this communicator's collectives */
  int refs;                   /* the live list's, and one per launched collective not yet released */
  struct ncclComm *next;
};

struct registration {
  void *buff;
  size_t size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t comm_changed; /* CLOCK_MONOTONIC; broadcast when a collective ends or a comm is released */
static atomic_long call_counts[FUNCTION_COUNT];
static int forced_pending[FUNCTION_COUNT];
static int forced_result[FUNCTION_COUNT];
static atomic_int hang;
static atomic_long stall_limit = DEFAULT_STALL_LIMIT_MS;
static atomic_int version_code = FAKE_VERSION_CODE;
static atomic_int receive_paused_enabled;
static atomic_llong receive_allowance;
static atomic_int receive_paused;
static atomic_llong bytes_sent;
static atomic_llong bytes_received;
static char last_error[512];
static struct ncclComm *live_comms;
static ncclConfig_t last_config;
static int have_last_config;
static _Thread_local int group_depth;
static _Thread_local struct collective *group_head, *group_tail;
static _Thread_local char last_error_copy[512];
static _Thread_local uintptr_t last_out_address[FUNCTION_COUNT];

__attribute__((constructor)) static void init_clock(void) {
  pthread_condattr_t attributes;
  pthread_condattr_init(&attributes);
  pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
  pthread_cond_init(&comm_changed, &attributes);
  pthread_condattr_destroy(&attributes);
}

static int function_index(const char *function) {
  if (function == NULL) return -1;
  for (int i = 0; i < FUNCTION_COUNT; i++) {
    if (strcmp(FUNCTIONS[i], function) == 0) return i;
  }
  return -1;
}

static void set_last_error_locked_v(const char *format, va_list args) {
  vsnprintf(last_error, sizeof last_error, format, args);
}

static void set_last_error(const char *format, ...) {
  va_list args;
  va_start(args, format);
  pthread_mutex_lock(&lock);
  set_last_error_locked_v(format, args);
  pthread_mutex_unlock(&lock);
  va_end(args);
}

/* Counts the call; returns 1 and the forced result when a failure was requested for it. */
static int enter(const char *function, ncclResult_t *forced) {
  int index = function_index(function);
  if (index < 0) return 0;
  atomic_fetch_add(&call_counts[index], 1);
  pthread_mutex_lock(&lock);
  /* forced_pending counts down the calls left before the forced one (fail_next: 1, fail_nth: n) */
  int take = forced_pending[index] > 0 && --forced_pending[index] == 0;
  if (take) {
    *forced = (ncclResult_t)forced_result[index];
    snprintf(last_error, sizeof last_error, "fake_nccl: forced failure of %s with result %d", function,
             forced_result[index]);
  }
  pthread_mutex_unlock(&lock);
  return take;
}

#define ENTER()                                  \
  do {                                           \
    ncclResult_t forced_;                        \
    if (enter(__func__, &forced_)) return forced_; \
  } while (0)

#define CHECK(expression)                          \
  do {                                             \
    ncclResult_t checked_ = (expression);          \
    if (checked_ != ncclSuccess) return checked_;  \
  } while (0)

static long long now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static long long stall_limit_ms(void) { return atomic_load(&stall_limit); }

static void free_collectives(struct collective *first);

/* ---- test controls ---- */

long fake_nccl_call_count(const char *function) {
  int index = function_index(function);
  return index < 0 ? -1 : atomic_load(&call_counts[index]);
}

void fake_nccl_reset(void) {
  pthread_mutex_lock(&lock);
  for (int i = 0; i < FUNCTION_COUNT; i++) {
    atomic_store(&call_counts[i], 0);
    forced_pending[i] = 0;
  }
  last_error[0] = '\0';
  have_last_config = 0;
  pthread_mutex_unlock(&lock);
  atomic_store(&hang, 0);
  atomic_store(&stall_limit, DEFAULT_STALL_LIMIT_MS);
  atomic_store(&version_code, FAKE_VERSION_CODE);
  atomic_store(&receive_paused_enabled, 0);
  atomic_store(&receive_paused, 0);
  atomic_store(&bytes_sent, 0);
  atomic_store(&bytes_received, 0);
  group_depth = 0;
  free_collectives(group_head); /* a group this thread left open is dropped, never launched */
  group_head = group_tail = NULL;
}

void fake_nccl_fail_next(const char *function, int result) {
  int index = function_index(function);
  if (index < 0) return;
  pthread_mutex_lock(&lock);
  forced_pending[index] = 1;
  forced_result[index] = result;
  pthread_mutex_unlock(&lock);
}

void fake_nccl_fail_nth(const char *function, long n, int result) {
  int index = function_index(function);
  if (index < 0) return;
  pthread_mutex_lock(&lock);
  forced_pending[index] = n > 0 && n <= INT_MAX ? (int)n : 0;
  forced_result[index] = result;
  pthread_mutex_unlock(&lock);
}

void fake_nccl_set_hang(int value) { atomic_store(&hang, value); }

void fake_nccl_set_stall_limit_ms(long ms) { atomic_store(&stall_limit, ms > 0 ? ms : DEFAULT_STALL_LIMIT_MS); }

void fake_nccl_set_version(int code) { atomic_store(&version_code, code > 0 ? code : FAKE_VERSION_CODE); }

void fake_nccl_pause_receiving_after(long long bytes) {
  atomic_store(&receive_paused, 0);
  atomic_store(&receive_allowance, bytes < 0 ? 0 : bytes);
  atomic_store(&receive_paused_enabled, bytes >= 0);
}

int fake_nccl_receiving_paused(void) { return atomic_load(&receive_paused); }

long long fake_nccl_payload_bytes(int received) {
  return atomic_load(received ? &bytes_received : &bytes_sent);
}

long fake_nccl_live_comms(void) {
  long live = 0;
  pthread_mutex_lock(&lock);
  for (struct ncclComm *c = live_comms; c != NULL; c = c->next) live++;
  pthread_mutex_unlock(&lock);
  return live;
}

long long fake_nccl_last_out_address(const char *function) {
  int index = function_index(function);
  return index < 0 ? -1 : (long long)last_out_address[index];
}

static void record_out_address(const char *function, const void *out) {
  last_out_address[function_index(function)] = (uintptr_t)out;
}

long long fake_nccl_last_config(const char *field) {
  long long value = LLONG_MIN;
  pthread_mutex_lock(&lock);
  if (have_last_config && field != NULL) {
    const ncclConfig_t *c = &last_config;
#define FIELD(name) else if (strcmp(field, #name) == 0) value = (long long)c->name;
#define POINTER_FIELD(name) else if (strcmp(field, #name) == 0) value = (long long)(intptr_t)c->name;
    if (0) {
    }
    FIELD(size) FIELD(magic) FIELD(version) FIELD(blocking) FIELD(cgaClusterSize) FIELD(minCTAs)
    FIELD(maxCTAs) POINTER_FIELD(netName) FIELD(splitShare) FIELD(trafficClass) POINTER_FIELD(commName)
    FIELD(collnetEnable) FIELD(CTAPolicy) FIELD(shrinkShare) FIELD(nvlsCTAs) FIELD(nChannelsPerNetPeer)
    FIELD(nvlinkCentricSched) FIELD(graphUsageMode) FIELD(numRmaCtx) FIELD(maxP2pPeers)
    FIELD(graphStreamOrdering)
#undef FIELD
#undef POINTER_FIELD
  }
  pthread_mutex_unlock(&lock);
  return value;
}

/* ---- argument checks ---- */

static size_t type_size(int datatype) {
  switch (datatype) {
    case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
    default: return 0;
  }
}

/* The communicator if it is live, else NULL; the caller holds the lock. */
static struct ncclComm *live_locked(ncclComm_t comm) {
  for (struct ncclComm *c = live_comms; c != NULL; c = c->next) {
    if (c == comm) return c->magic == COMM_MAGIC ? c : NULL;
  }
  return NULL;
}

static ncclResult_t not_live(ncclComm_t comm, const char *op) {
  set_last_error("%s : comm %p is not a live communicator (never created, destroyed or aborted)", op, (void *)comm);
  return ncclInvalidArgument;
}

static ncclResult_t null_comm(const char *op) {
  set_last_error("%s : comm argument is NULL", op);
  return ncclInvalidArgument;
}

/* A communicator's fields, copied under the lock: once it is released another thread may free the communicator. */
struct comm_view {
  int nranks;
  int rank;
  int device;
  int blocking;
  int initializing;
  int failed;
  ncclResult_t error;
};

static ncclResult_t view_comm(ncclComm_t comm, const char *op, struct comm_view *view) {
  if (comm == NULL) return null_comm(op);
  pthread_mutex_lock(&lock);
  struct ncclComm *c = live_locked(comm);
  if (c != NULL) {
    int initializing = c->nranks == 1 ? c->pending_polls > 0 : c->state == COMM_INITIALIZING;
    *view = (struct comm_view){c->nranks, c->rank, c->device, c->blocking, initializing, c->state == COMM_FAILED,
                               c->error};
  }
  pthread_mutex_unlock(&lock);
  return c == NULL ? not_live(comm, op) : ncclSuccess;
}

/* A communicator can run work once its initialisation finished (blocking, or polled to completion) and while it
 * has not failed. */
static ncclResult_t check_ready(ncclComm_t comm, const char *op, struct comm_view *view) {
  ncclResult_t result = view_comm(comm, op, view);
  if (result != ncclSuccess) return result;
  if (view->initializing) {
    set_last_error("%s : communicator is still initializing (poll ncclCommGetAsyncError first)", op);
    return ncclInvalidUsage;
  }
  if (view->failed) {
    set_last_error("%s : the communicator failed earlier with error %d and must be aborted", op, view->error);
    return view->error;
  }
  return ncclSuccess;
}

static ncclResult_t check_type(int datatype, const char *op) {
  if (type_size(datatype) == 0) {
    set_last_error("%s : invalid type %d", op, datatype);
    return ncclInvalidArgument;
  }
  return ncclSuccess;
}

static ncclResult_t check_op(int redop, const char *op) {
  if (redop < ncclSum || redop > ncclAvg) {
    set_last_error("%s : invalid reduction operation %d", op, redop);
    return ncclInvalidArgument;
  }
  return ncclSuccess;
}

static ncclResult_t check_root(int root, const struct comm_view *comm, const char *op, const char *what) {
  if (root < 0 || root >= comm->nranks) {
    set_last_error("%s : invalid %s %d (%s should be in the 0..%d range)", op, what, root, what, comm->nranks - 1);
    return ncclInvalidArgument;
  }
  return ncclSuccess;
}

static ncclResult_t check_pointer(const void *pointer, const char *op, const char *name) {
  if (pointer == NULL) {
    set_last_error("%s : %s argument is NULL", op, name);
    return ncclInvalidArgument;
  }
  return ncclSuccess;
}

/* Only broadcasts move data between ranks here. */
static ncclResult_t check_single_rank(const struct comm_view *comm, const char *op) {
  if (comm->nranks != 1) {
    set_last_error("fake_nccl: %s over %d ranks is not modelled (only Broadcast moves data between ranks)", op,
                   comm->nranks);
    return ncclInvalidUsage;
  }
  return ncclSuccess;
}

/* ---- the fake libcudart beside this library (real NCCL carries its own CUDA runtime) ---- */

typedef void (*host_work_fn)(void *);

struct cudart_bridge {
  int (*launch)(cudaStream_t, host_work_fn, void *);
  int (*copy)(cudaStream_t, void *, const void *, size_t);
  int (*current_device)(void);
  int (*bus_id)(int, char *, int);
};

static struct cudart_bridge bridge_storage;
static atomic_int bridge_found;

/*
 * The fake libcudart's bridge when that library is loaded in this process from the directory of this one, else
 * NULL (the `default` test execution loads the real runtime, or none). Looked up again until found.
 */
static const struct cudart_bridge *cudart_bridge(void) {
  if (atomic_load(&bridge_found)) return &bridge_storage;
  Dl_info self;
  if (dladdr((void *)ncclGetVersion, &self) == 0 || self.dli_fname == NULL) return NULL;
  char path[PATH_MAX];
  const char *slash = strrchr(self.dli_fname, '/');
  int directory = slash == NULL ? 0 : (int)(slash - self.dli_fname) + 1;
  if (snprintf(path, sizeof path, "%.*slibcudart.so.13", directory, self.dli_fname) >= (int)sizeof path) return NULL;
  void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (library == NULL) return NULL;
  struct cudart_bridge found;
  *(void **)&found.launch = dlsym(library, "fake_cudart_bridge_launch");
  *(void **)&found.copy = dlsym(library, "fake_cudart_bridge_copy");
  *(void **)&found.current_device = dlsym(library, "fake_cudart_bridge_current_device");
  *(void **)&found.bus_id = dlsym(library, "fake_cudart_bridge_bus_id");
  if (found.launch == NULL || found.copy == NULL || found.current_device == NULL || found.bus_id == NULL) {
    dlclose(library);
    return NULL;
  }
  pthread_mutex_lock(&lock);
  bridge_storage = found; /* the handle stays open: the library cannot go away under us */
  atomic_store(&bridge_found, 1);
  pthread_mutex_unlock(&lock);
  return &bridge_storage;
}

/* The calling thread's CUDA device and its PCI bus id ("" when the fake libcudart is not loaded). */
static int current_device(char bus_id[BUS_ID_BYTES]) {
  bus_id[0] = '\0';
  const struct cudart_bridge *cuda = cudart_bridge();
  if (cuda == NULL) return 0;
  int device = cuda->current_device();
  if (cuda->bus_id(device, bus_id, BUS_ID_BYTES) != 0) bus_id[0] = '\0';
  return device;
}

/* ---- ncclConfig_t ---- */

/* The NCCL release that added each field after the header (size, magic, version): a field newer than the
 * caller's config version is reset to its default, as NCCL does. */
struct config_field {
  size_t offset;
  size_t size;
  unsigned since;
};
#define CONFIG_FIELD(name, since) {offsetof(ncclConfig_t, name), sizeof(((ncclConfig_t *)0)->name), since}
static const struct config_field CONFIG_FIELDS[] = {
    CONFIG_FIELD(blocking, 21400),           CONFIG_FIELD(cgaClusterSize, 21700),
    CONFIG_FIELD(minCTAs, 21700),            CONFIG_FIELD(maxCTAs, 21700),
    CONFIG_FIELD(netName, 21700),            CONFIG_FIELD(splitShare, 21800),
    CONFIG_FIELD(trafficClass, 22600),       CONFIG_FIELD(commName, 22700),
    CONFIG_FIELD(collnetEnable, 22700),      CONFIG_FIELD(CTAPolicy, 22700),
    CONFIG_FIELD(shrinkShare, 22700),        CONFIG_FIELD(nvlsCTAs, 22700),
    CONFIG_FIELD(nChannelsPerNetPeer, 22800), CONFIG_FIELD(nvlinkCentricSched, 22800),
    CONFIG_FIELD(graphUsageMode, 22900),     CONFIG_FIELD(numRmaCtx, 22900),
    CONFIG_FIELD(maxP2pPeers, 23000),        CONFIG_FIELD(graphStreamOrdering, 23000),
};
#undef CONFIG_FIELD

/* Reads a config as NCCL does: min(size, sizeof) bytes over the defaults, then every field newer than the
 * config's version back to its default; magic and blocking checked. */
static ncclResult_t read_config(const ncclConfig_t *config, const char *op, int *blocking) {
  *blocking = 1;
  if (config == NULL) return ncclSuccess;
  if (config->magic != NCCL_CONFIG_MAGIC) {
    set_last_error("%s : ncclConfig_t argument not initialized via NCCL_CONFIG_INITIALIZER (magic 0x%x)", op,
                   config->magic);
    return ncclInvalidArgument;
  }
  if (config->size < offsetof(ncclConfig_t, blocking) + sizeof(int)) {
    set_last_error("%s : ncclConfig_t size %zu is too small", op, config->size);
    return ncclInvalidArgument;
  }
  ncclConfig_t defaults;
  memset(&defaults, 0, sizeof defaults);
  defaults.cgaClusterSize = defaults.minCTAs = defaults.maxCTAs = NCCL_CONFIG_UNDEF_INT;
  defaults.splitShare = defaults.trafficClass = defaults.collnetEnable = NCCL_CONFIG_UNDEF_INT;
  defaults.CTAPolicy = defaults.shrinkShare = defaults.nvlsCTAs = NCCL_CONFIG_UNDEF_INT;
  defaults.nChannelsPerNetPeer = defaults.nvlinkCentricSched = defaults.graphUsageMode = NCCL_CONFIG_UNDEF_INT;
  defaults.numRmaCtx = defaults.maxP2pPeers = defaults.graphStreamOrdering = NCCL_CONFIG_UNDEF_INT;
  defaults.blocking = NCCL_CONFIG_UNDEF_INT;
  ncclConfig_t copy = defaults;
  memcpy(&copy, config, config->size < sizeof copy ? config->size : sizeof copy);
  for (size_t i = 0; i < sizeof CONFIG_FIELDS / sizeof CONFIG_FIELDS[0]; i++) {
    const struct config_field *field = &CONFIG_FIELDS[i];
    if (field->since > copy.version) {
      memcpy((char *)&copy + field->offset, (const char *)&defaults + field->offset, field->size);
    }
  }
  pthread_mutex_lock(&lock);
  last_config = copy;
  have_last_config = 1;
  pthread_mutex_unlock(&lock);
  if (copy.blocking != NCCL_CONFIG_UNDEF_INT && copy.blocking != 0 && copy.blocking != 1) {
    set_last_error("%s : blocking %d must be 0 or 1", op, copy.blocking);
    return ncclInvalidArgument;
  }
  *blocking = copy.blocking == 0 ? 0 : 1;
  return ncclSuccess;
}

/* ---- sockets: every wait has a deadline and ends at once when the communicator's wake fd fires ---- */

enum io { IO_OK = 1, IO_WOKEN = 0, IO_TIMEOUT = -1, IO_ERROR = -2, IO_EOF = -3 };

static int cap_timeout(long long ms) { return ms > 1000 ? 1000 : ms < 0 ? 0 : (int)ms; }

/* Waits until fd is ready for events, wake_fd (if >= 0) fires, or the deadline passes. */
static enum io await_fd(int fd, short events, int wake_fd, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) return IO_TIMEOUT;
    struct pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    int ready = poll(fds, wake_fd >= 0 ? 2 : 1, cap_timeout(left));
    if (ready < 0 && errno != EINTR) return IO_ERROR;
    if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return IO_WOKEN;
    if (ready > 0 && fds[0].revents != 0) return IO_OK;
  }
}

static enum io send_all(int fd, const void *buffer, size_t length, int wake_fd, long long deadline) {
  const char *at = buffer;
  while (length > 0) {
    ssize_t sent = send(fd, at, length, MSG_NOSIGNAL);
    if (sent > 0) {
      at += sent;
      length -= (size_t)sent;
    } else if (sent < 0 && (errno == EAGAIN || errno == EINTR)) {
      enum io ready = await_fd(fd, POLLOUT, wake_fd, deadline);
      if (ready != IO_OK) return ready;
    } else {
      return IO_ERROR;
    }
  }
  return IO_OK;
}

static enum io receive_all(int fd, void *buffer, size_t length, int wake_fd, long long deadline) {
  char *at = buffer;
  while (length > 0) {
    ssize_t got = recv(fd, at, length, 0);
    if (got > 0) {
      at += got;
      length -= (size_t)got;
    } else if (got == 0) {
      return IO_EOF;
    } else if (errno == EAGAIN || errno == EINTR) {
      enum io ready = await_fd(fd, POLLIN, wake_fd, deadline);
      if (ready != IO_OK) return ready;
    } else {
      return IO_ERROR;
    }
  }
  return IO_OK;
}

/* A non-blocking listener on 127.0.0.1 with an ephemeral port; -1 on failure. */
static int listen_loopback(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
  socklen_t length = sizeof address;
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 2 * MAX_RANKS) != 0 ||
      getsockname(fd, (struct sockaddr *)&address, &length) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(address.sin_port);
  return fd;
}

static void tune(int fd) {
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/*
 * Connects to 127.0.0.1:port. A refused connection is retried for retry_ms (a listener not there yet, or gone for
 * good); returns the non-blocking socket, or -1 with *outcome saying why.
 */
static int connect_loopback(uint16_t port, int wake_fd, long long retry_ms, long long deadline, enum io *outcome) {
  long long give_up = now_ms() + retry_ms;
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *outcome = IO_ERROR;
      return -1;
    }
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                  .sin_port = htons(port)};
    int error = 0;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        enum io ready = await_fd(fd, POLLOUT, wake_fd, deadline);
        if (ready != IO_OK) {
          close(fd);
          *outcome = ready;
          return -1;
        }
        socklen_t length = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      }
    }
    if (error == 0) {
      tune(fd);
      *outcome = IO_OK;
      return fd;
    }
    close(fd);
    if (error != ECONNREFUSED || now_ms() >= give_up) {
      *outcome = IO_ERROR;
      return -1;
    }
    /* Wait a little before retrying, still ending at once on a wake-up. */
    struct pollfd wake = {wake_fd, POLLIN, 0};
    poll(&wake, wake_fd >= 0 ? 1 : 0, 20);
    if (wake_fd >= 0 && (wake.revents & POLLIN)) {
      *outcome = IO_WOKEN;
      return -1;
    }
  }
}

/* ---- the unique id: "FAKENCCL", a random nonce, the root's IPv4 address and port, then bytes derived from the
 * nonce (so a corrupted id is recognised) ---- */

#define ID_NONCE 8
#define ID_ADDRESS 16
#define ID_PORT 20
#define ID_FILL 22

static char id_fill_byte(uint64_t nonce, int index) {
  return (char)((index * 31 + (int)((nonce >> (8 * (index % 8))) & 0xff) * 7 + 0x5a) & 0xff);
}

static uint64_t id_nonce(const ncclUniqueId *id) {
  uint64_t nonce;
  memcpy(&nonce, id->internal + ID_NONCE, sizeof nonce);
  return nonce;
}

static uint16_t id_port(const ncclUniqueId *id) {
  uint16_t port;
  memcpy(&port, id->internal + ID_PORT, sizeof port);
  return ntohs(port);
}

static void fill_unique_id(ncclUniqueId *id, uint64_t nonce, uint16_t port) {
  memcpy(id->internal, "FAKENCCL", 8);
  memcpy(id->internal + ID_NONCE, &nonce, sizeof nonce);
  uint32_t address = htonl(INADDR_LOOPBACK);
  memcpy(id->internal + ID_ADDRESS, &address, sizeof address);
  uint16_t network_port = htons(port);
  memcpy(id->internal + ID_PORT, &network_port, sizeof network_port);
  for (int i = ID_FILL; i < NCCL_UNIQUE_ID_BYTES; i++) id->internal[i] = id_fill_byte(nonce, i);
}

static ncclResult_t check_unique_id(const ncclUniqueId *id, const char *op) {
  if (memcmp(id->internal, "FAKENCCL", 8) != 0) {
    set_last_error("%s : ncclUniqueId does not come from ncclGetUniqueId (bad header)", op);
    return ncclInvalidArgument;
  }
  uint64_t nonce = id_nonce(id);
  for (int i = ID_FILL; i < NCCL_UNIQUE_ID_BYTES; i++) {
    if (id->internal[i] != id_fill_byte(nonce, i)) {
      set_last_error("%s : ncclUniqueId corrupted at byte %d", op, i);
      return ncclInvalidArgument;
    }
  }
  return ncclSuccess;
}

/* ---- the bootstrap root: one thread per unique id, serving one rendezvous ---- */

struct root_connection {
  int fd; /* -1 once closed */
  size_t received;
  struct boot_hello hello;
};

#define MAX_ROOT_CONNECTIONS (2 * MAX_RANKS)

struct root {
  int listen_fd;
  uint64_t nonce;
  struct root_connection connections[MAX_ROOT_CONNECTIONS];
  int count;
  int by_rank[MAX_RANKS]; /* index into connections, -1 until the rank arrived */
  int nranks;             /* 0 until the first rank arrived */
  int arrived;
  struct boot_table answer;
};

static void root_answer(struct root *root, int connection) {
  struct root_connection *c = &root->connections[connection];
  if (c->fd >= 0) send_all(c->fd, &root->answer, sizeof root->answer, -1, now_ms() + 1000);
}

/* Ends the rendezvous: tells every rank that arrived why, or (result == ncclSuccess) where everyone listens. */
static void root_finish(struct root *root, ncclResult_t result, const char *format, ...) {
  root->answer.magic = WIRE_MAGIC;
  root->answer.kind = result == ncclSuccess ? BOOT_TABLE : BOOT_ERROR;
  root->answer.result = result;
  va_list args;
  va_start(args, format);
  vsnprintf(root->answer.message, sizeof root->answer.message, format, args);
  va_end(args);
  for (int r = 0; r < MAX_RANKS; r++) {
    if (root->by_rank[r] >= 0) root_answer(root, root->by_rank[r]);
  }
}

static void root_drop(struct root *root, int connection) {
  close(root->connections[connection].fd);
  root->connections[connection].fd = -1;
}

/* ---- NCCL 2.30's experimental NCCL_MULTI_RANK_GPU_ENABLE=1: up to two ranks of one communicator per GPU ---- */

#define MULTI_RANK_GPU_VERSION 23000
#define MULTI_RANK_GPU_MAX_RANKS 2

/* The ranks per GPU a rank of this version accepts: 2 with NCCL_MULTI_RANK_GPU_ENABLE=1 from NCCL 2.30 on, else 1.
 * Read at every init from this process's environment, as each real rank reads its own. */
static int32_t ranks_per_gpu_allowed(int version) {
  const char *enable = getenv("NCCL_MULTI_RANK_GPU_ENABLE");
  int enabled = enable != NULL && strcmp(enable, "1") == 0;
  return enabled && version >= MULTI_RANK_GPU_VERSION ? MULTI_RANK_GPU_MAX_RANKS : 1;
}

/* Once every rank arrived: fails the rendezvous ("Duplicate GPU detected", returns 1) when more ranks share a PCI
 * bus id than one of them accepts; 0 when every GPU holds few enough. */
static int root_gpu_overcommitted(struct root *root) {
  for (int a = 0; a < root->nranks; a++) {
    const struct boot_hello *first = &root->connections[root->by_rank[a]].hello;
    if (first->bus_id[0] == '\0') continue;
    int sharing = 1;
    int32_t accepted = first->ranks_per_gpu;
    for (int b = a + 1; b < root->nranks; b++) {
      const struct boot_hello *other = &root->connections[root->by_rank[b]].hello;
      if (strcmp(first->bus_id, other->bus_id) != 0) continue;
      sharing++;
      if (other->ranks_per_gpu < accepted) accepted = other->ranks_per_gpu;
      if (sharing > accepted) {
        root_finish(root, ncclInvalidUsage, "Duplicate GPU detected : rank %d and rank %d both on CUDA device %s%s",
                    a, b, first->bus_id, accepted > 1 ? " (NCCL_MULTI_RANK_GPU_ENABLE allows 2 ranks per GPU)" : "");
        return 1;
      }
    }
  }
  return 0;
}

/* A complete hello from a connection: 1 when the rendezvous is over (answered), 0 to go on. */
static int root_hello(struct root *root, int connection) {
  const struct boot_hello *h = &root->connections[connection].hello;
  if (h->magic != WIRE_MAGIC || h->kind != BOOT_HELLO) {
    root_drop(root, connection);
    return 0;
  }
  if (h->nonce != root->nonce) {
    root->answer = (struct boot_table){.magic = WIRE_MAGIC, .kind = BOOT_ERROR, .result = ncclInvalidArgument};
    snprintf(root->answer.message, sizeof root->answer.message,
             "ncclUniqueId does not match the bootstrap root listening at its address (an id of another rendezvous)");
    root_answer(root, connection);
    root_drop(root, connection);
    return 0;
  }
  if (root->nranks == 0 && h->nranks >= 2 && h->nranks <= MAX_RANKS) root->nranks = h->nranks;
  int first = -1;
  for (int r = 0; r < MAX_RANKS && first < 0; r++) first = root->by_rank[r];
  const struct boot_hello *other = first >= 0 ? &root->connections[first].hello : h;
  if (h->nranks != root->nranks || h->rank < 0 || h->rank >= root->nranks) {
    root_finish(root, ncclInvalidUsage, "rank %d passed nranks %d, rank %d passed nranks %d", h->rank, h->nranks,
                other->rank, other->nranks);
    root_answer(root, connection);
    return 1;
  }
  if (root->by_rank[h->rank] >= 0) {
    root_finish(root, ncclInvalidUsage, "rank %d joined the rendezvous twice", h->rank);
    root_answer(root, connection);
    return 1;
  }
  root->by_rank[h->rank] = connection;
  root->arrived++;
  if (h->version != other->version) {
    root_finish(root, ncclInvalidUsage, "Mismatched NCCL version detected : rank %d version %d rank %d version %d",
                other->rank, other->version, h->rank, h->version);
    return 1;
  }
  if (root->arrived < root->nranks) return 0;
  if (root_gpu_overcommitted(root)) return 1;
  for (int r = 0; r < root->nranks; r++) root->answer.ports[r] = root->connections[root->by_rank[r]].hello.port;
  root_finish(root, ncclSuccess, "");
  return 1;
}

static void *root_main(void *argument) {
  struct root *root = argument;
  long long deadline = now_ms() + stall_limit_ms();
  int over = 0;
  while (!over) {
    long long left = deadline - now_ms();
    if (left <= 0) {
      root_finish(root, ncclSystemError, "fake_nccl bootstrap root: %d of %d ranks arrived within the stall limit "
                  "of %lld ms", root->arrived, root->nranks, stall_limit_ms());
      break;
    }
    struct pollfd fds[1 + MAX_ROOT_CONNECTIONS];
    int owners[1 + MAX_ROOT_CONNECTIONS];
    int n = 0;
    fds[n++] = (struct pollfd){root->listen_fd, POLLIN, 0};
    for (int i = 0; i < root->count; i++) {
      if (root->connections[i].fd >= 0) {
        owners[n] = i;
        fds[n++] = (struct pollfd){root->connections[i].fd, POLLIN, 0};
      }
    }
    if (poll(fds, (nfds_t)n, cap_timeout(left)) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      int fd;
      while ((fd = accept4(root->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if (root->count == MAX_ROOT_CONNECTIONS) {
          close(fd);
        } else {
          root->connections[root->count++] = (struct root_connection){.fd = fd};
        }
      }
    }
    for (int p = 1; p < n && !over; p++) {
      if (fds[p].revents == 0) continue;
      int i = owners[p];
      struct root_connection *c = &root->connections[i];
      if (c->received == sizeof c->hello) {
        /* A rank that arrived says nothing more: readable means it left (exited, was killed or aborted). */
        char byte;
        ssize_t got = recv(c->fd, &byte, 1, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
          root_drop(root, i);
          for (int r = 0; r < MAX_RANKS; r++) {
            if (root->by_rank[r] == i) {
              root->by_rank[r] = -1;
              root_finish(root, ncclRemoteError, "rank %d left the bootstrap before all %d ranks arrived (its "
                          "process exited or it aborted)", r, root->nranks);
            }
          }
          over = 1;
        }
        continue;
      }
      ssize_t got = recv(c->fd, (char *)&c->hello + c->received, sizeof c->hello - c->received, 0);
      if (got > 0) {
        c->received += (size_t)got;
        if (c->received == sizeof c->hello) over = root_hello(root, i);
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        root_drop(root, i); /* gone before saying who it is */
      }
    }
  }
  for (int i = 0; i < root->count; i++) {
    if (root->connections[i].fd >= 0) close(root->connections[i].fd);
  }
  close(root->listen_fd);
  free(root);
  return NULL;
}

/* Starts the root of a new id; returns its port, or 0 with the last error set. */
static uint16_t start_root(uint64_t nonce) {
  struct root *root = calloc(1, sizeof *root);
  if (root == NULL) {
    set_last_error("ncclGetUniqueId : out of host memory");
    return 0;
  }
  for (int r = 0; r < MAX_RANKS; r++) root->by_rank[r] = -1;
  root->nonce = nonce;
  uint16_t port = 0;
  root->listen_fd = listen_loopback(&port);
  if (root->listen_fd < 0) {
    set_last_error("ncclGetUniqueId : cannot listen on 127.0.0.1: %s", strerror(errno));
    free(root);
    return 0;
  }
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, 256 * 1024);
  pthread_t thread;
  int started = pthread_create(&thread, &attributes, root_main, root);
  pthread_attr_destroy(&attributes);
  if (started != 0) {
    set_last_error("ncclGetUniqueId : cannot start the bootstrap root thread: %s", strerror(started));
    close(root->listen_fd);
    free(root);
    return 0;
  }
  return port;
}

/* ---- a rank's side of the bootstrap ---- */

/* Why a wait of this communicator ended without an answer, as the result and last error to report. */
static ncclResult_t wait_failure(enum io outcome, const char *what, int peer) {
  switch (outcome) {
    case IO_TIMEOUT:
      set_last_error("fake_nccl: %s (rank %d) did not answer within the stall limit of %lld ms (real NCCL would wait)",
                     what, peer, stall_limit_ms());
      return ncclSystemError;
    case IO_EOF:
      set_last_error("fake_nccl: %s (rank %d) closed the connection (its process exited, it aborted or failed)",
                     what, peer);
      return ncclRemoteError;
    case IO_WOKEN:
      set_last_error("fake_nccl: the communicator was aborted while it formed");
      return ncclInternalError;
    default:
      set_last_error("fake_nccl: connection to %s (rank %d) failed: %s", what, peer, strerror(errno));
      return ncclRemoteError;
  }
}

/* Forms the connections of a communicator over nranks > 1: on the caller (blocking) or its init thread. */
static ncclResult_t form(struct ncclComm *c) {
  long long limit = stall_limit_ms();
  uint16_t own_port = 0;
  c->listen_fd = listen_loopback(&own_port);
  if (c->listen_fd < 0) {
    set_last_error("fake_nccl: rank %d cannot listen on 127.0.0.1: %s", c->rank, strerror(errno));
    return ncclSystemError;
  }
  enum io outcome;
  int root = connect_loopback(id_port(&c->id), c->wake_fd, CONNECT_RETRY_MS, now_ms() + limit, &outcome);
  if (root < 0) {
    if (outcome == IO_ERROR) {
      set_last_error("fake_nccl: the bootstrap root at 127.0.0.1:%u refused rank %d (the process that called "
                     "ncclGetUniqueId exited, or its rendezvous is over)", id_port(&c->id), c->rank);
      return ncclRemoteError;
    }
    return wait_failure(outcome, "the bootstrap root", -1);
  }
  struct boot_hello hello = {.magic = WIRE_MAGIC, .kind = BOOT_HELLO, .nonce = id_nonce(&c->id),
                             .nranks = c->nranks, .rank = c->rank, .version = c->version,
                             .port = own_port, .ranks_per_gpu = ranks_per_gpu_allowed(c->version)};
  memcpy(hello.bus_id, c->bus_id, sizeof hello.bus_id);
  struct boot_table table;
  outcome = send_all(root, &hello, sizeof hello, c->wake_fd, now_ms() + limit);
  if (outcome == IO_OK) outcome = receive_all(root, &table, sizeof table, c->wake_fd, now_ms() + limit);
  close(root);
  if (outcome != IO_OK) return wait_failure(outcome, "the bootstrap root", -1);
  if (table.magic != WIRE_MAGIC || table.kind != BOOT_TABLE) {
    table.message[sizeof table.message - 1] = '\0';
    set_last_error("%s", table.kind == BOOT_ERROR ? table.message : "fake_nccl: malformed bootstrap answer");
    return table.kind == BOOT_ERROR ? (ncclResult_t)table.result : ncclInternalError;
  }
  uint64_t nonce = id_nonce(&c->id);
  /* Rank r connects to every lower rank and accepts every higher one: each pair once, nobody waits on a cycle. */
  for (int peer = 0; peer < c->rank; peer++) {
    int fd = connect_loopback((uint16_t)table.ports[peer], c->wake_fd, 0, now_ms() + limit, &outcome);
    struct peer_hello greeting = {.magic = WIRE_MAGIC, .kind = PEER_HELLO, .nonce = nonce, .rank = c->rank};
    if (fd >= 0) {
      c->peers[peer] = fd;
      outcome = send_all(fd, &greeting, sizeof greeting, c->wake_fd, now_ms() + limit);
    }
    if (outcome != IO_OK) return wait_failure(outcome, "a lower rank", peer);
  }
  for (int accepted = c->rank + 1; accepted < c->nranks;) {
    outcome = await_fd(c->listen_fd, POLLIN, c->wake_fd, now_ms() + limit);
    if (outcome != IO_OK) return wait_failure(outcome, "a higher rank", accepted);
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) continue;
    struct peer_hello greeting;
    outcome = receive_all(fd, &greeting, sizeof greeting, c->wake_fd, now_ms() + limit);
    if (outcome != IO_OK || greeting.magic != WIRE_MAGIC || greeting.kind != PEER_HELLO || greeting.nonce != nonce ||
        greeting.rank <= c->rank || greeting.rank >= c->nranks || c->peers[greeting.rank] >= 0) {
      close(fd); /* a stranger, or a rank that failed on the way: the others still come or the limit passes */
      if (outcome == IO_WOKEN) return wait_failure(outcome, "a higher rank", accepted);
      continue;
    }
    tune(fd);
    c->peers[greeting.rank] = fd;
    accepted++;
  }
  return ncclSuccess;
}

static void set_formed(struct ncclComm *c, ncclResult_t result) {
  pthread_mutex_lock(&lock);
  if (c->state == COMM_INITIALIZING) {
    c->state = result == ncclSuccess ? COMM_READY : COMM_FAILED;
    c->error = result;
  }
  pthread_cond_broadcast(&comm_changed);
  pthread_mutex_unlock(&lock);
}

static void *init_main(void *argument) {
  struct ncclComm *c = argument;
  ncclResult_t result = form(c);
  if (!atomic_load(&c->aborting)) set_formed(c, result);
  return NULL;
}

/* ---- communicators: created live, released when the last reference (the live list's, or a launched collective's)
 * goes ---- */

static struct ncclComm *alloc_comm(int nranks, int rank, int device, const char *bus_id, int blocking) {
  struct ncclComm *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->magic = COMM_MAGIC;
  c->nranks = nranks;
  c->rank = rank;
  c->device = device;
  c->blocking = blocking;
  c->version = atomic_load(&version_code);
  snprintf(c->bus_id, sizeof c->bus_id, "%s", bus_id);
  c->wake_fd = -1;
  c->listen_fd = -1;
  c->refs = 1;
  if (nranks == 1) {
    c->state = COMM_READY;
    c->pending_polls = blocking ? 0 : 1;
    return c;
  }
  c->state = COMM_INITIALIZING;
  c->peers = malloc((size_t)nranks * sizeof *c->peers);
  c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (c->peers == NULL || c->wake_fd < 0) {
    if (c->wake_fd >= 0) close(c->wake_fd);
    free(c->peers);
    free(c);
    return NULL;
  }
  for (int p = 0; p < nranks; p++) c->peers[p] = -1;
  return c;
}

static void link_comm(struct ncclComm *c) {
  pthread_mutex_lock(&lock);
  c->next = live_comms;
  live_comms = c;
  pthread_mutex_unlock(&lock);
}

static void release_comm_locked(struct ncclComm *c) {
  if (--c->refs > 0) return;
  for (int p = 0; c->peers != NULL && p < c->nranks; p++) {
    if (c->peers[p] >= 0) close(c->peers[p]);
  }
  if (c->listen_fd >= 0) close(c->listen_fd);
  if (c->wake_fd >= 0) close(c->wake_fd);
  free(c->peers);
  free(c);
}

static void timed_wait(long long deadline) {
  struct timespec until = {.tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000};
  pthread_cond_timedwait(&comm_changed, &lock, &until);
}

/* A failure of a formed communicator: recorded once, and the sockets shut so that every peer's pending collective
 * fails too (the errors after ncclInvalidArgument are fatal: the communicator must be aborted). */
static void fail_comm(struct ncclComm *c, ncclResult_t result, const char *format, ...) {
  pthread_mutex_lock(&lock);
  int first = c->state != COMM_FAILED && !atomic_load(&c->aborting);
  if (first) {
    c->state = COMM_FAILED;
    c->error = result;
    va_list args;
    va_start(args, format);
    set_last_error_locked_v(format, args);
    va_end(args);
  }
  pthread_cond_broadcast(&comm_changed);
  pthread_mutex_unlock(&lock);
  for (int p = 0; first && p < c->nranks; p++) {
    if (c->peers[p] >= 0) shutdown(c->peers[p], SHUT_WR);
  }
}

/* Tells every peer this rank is leaving on purpose; only between collectives, so no frame is cut in two. */
static void say_bye(struct ncclComm *c) {
  pthread_mutex_lock(&lock);
  int quiet = c->state == COMM_READY && c->running == 0 && c->finished == c->launched;
  pthread_mutex_unlock(&lock);
  struct frame bye = {.magic = WIRE_MAGIC, .kind = FRAME_BYE};
  for (int p = 0; quiet && p < c->nranks; p++) {
    if (c->peers[p] >= 0) send(c->peers[p], &bye, sizeof bye, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
}

/*
 * ncclCommDestroy (graceful) and ncclCommAbort: the handle dies at once; over nranks > 1 every wait of the
 * communicator is woken, its sockets shut (peers see the connection close), and running host work is given a
 * moment to notice, so the stream completes promptly.
 */
static ncclResult_t end_comm(ncclComm_t comm, const char *op, int graceful) {
  if (comm == NULL) return ncclSuccess; /* as NCCL: destroying or aborting NULL succeeds */
  pthread_mutex_lock(&lock);
  struct ncclComm **link = &live_comms;
  while (*link != NULL && *link != comm) link = &(*link)->next;
  struct ncclComm *c = *link;
  if (c != NULL) {
    *link = c->next;
    c->magic = 0;
  }
  pthread_mutex_unlock(&lock);
  if (c == NULL) {
    set_last_error("%s : comm %p is not a live communicator", op, (void *)comm);
    return ncclInvalidArgument;
  }
  if (c->nranks > 1) {
    if (graceful) say_bye(c);
    atomic_store(&c->aborting, 1);
    uint64_t one = 1;
    if (write(c->wake_fd, &one, sizeof one) < 0) {
      /* an eventfd write fails only on counter overflow: it is signalled already */
    }
    if (c->has_init_thread) pthread_join(c->init_thread, NULL);
    for (int p = 0; p < c->nranks; p++) {
      if (c->peers[p] >= 0) shutdown(c->peers[p], SHUT_RDWR);
    }
    pthread_mutex_lock(&lock);
    long long deadline = now_ms() + ABORT_DRAIN_MS;
    while (c->running > 0 && now_ms() < deadline) timed_wait(deadline);
    pthread_mutex_unlock(&lock);
  }
  pthread_mutex_lock(&lock);
  release_comm_locked(c);
  pthread_cond_broadcast(&comm_changed);
  pthread_mutex_unlock(&lock);
  return ncclSuccess;
}

/* ---- collectives over nranks > 1 ----
 *
 * Per collective, on every link (a pair of ranks, one TCP connection): each side first sends an INTENT frame naming
 * the collective (sequence number, count, datatype, root); the root's INTENT is followed by the payload; a
 * non-root acknowledges the payload with an ACK. So the root finishes when every rank acknowledged its bytes, a
 * non-root when its bytes arrived, and everyone only once every rank launched the same collective. */

enum in_stage { IN_INTENT, IN_PAYLOAD, IN_ACK, IN_DONE };
enum out_stage { OUT_INTENT, OUT_PAYLOAD, OUT_ACK_WAIT, OUT_ACK, OUT_DONE };
enum run_state { WAITING, RUNNING, HOLDING, ENDED };

struct link {
  enum in_stage in;
  size_t in_done;
  struct frame received;
  enum out_stage out;
  size_t out_done;
  int left; /* the peer said BYE after doing its part: its leaving no longer concerns this collective */
};

struct collective {
  struct ncclComm *comm; /* holds a reference */
  cudaStream_t stream;
  uint64_t seq;
  const char *send;
  char *recv;
  size_t count;
  int datatype;
  int root;
  size_t bytes;
  enum run_state state;
  long long since; /* when the current wait began: launch, the last byte moved, or the failure */
  struct frame intent;
  struct frame ack;
  struct collective *next;
  struct link links[]; /* one per rank */
};

static void free_collectives(struct collective *first) {
  while (first != NULL) {
    struct collective *next = first->next;
    pthread_mutex_lock(&lock);
    release_comm_locked(first->comm);
    pthread_mutex_unlock(&lock);
    free(first);
    first = next;
  }
}

static ncclResult_t new_collective(ncclComm_t comm, const char *op, const void *send, void *recv, size_t count,
                                   int datatype, int root, cudaStream_t stream, struct collective **out) {
  pthread_mutex_lock(&lock);
  struct ncclComm *c = live_locked(comm);
  struct collective *x = c == NULL ? NULL : calloc(1, sizeof *x + (size_t)c->nranks * sizeof x->links[0]);
  if (x != NULL) {
    c->refs++;
    x->comm = c;
  }
  pthread_mutex_unlock(&lock);
  if (c == NULL) return not_live(comm, op);
  if (x == NULL) {
    set_last_error("%s : out of host memory", op);
    return ncclSystemError;
  }
  x->stream = stream;
  x->send = send;
  x->recv = recv;
  x->count = count;
  x->datatype = datatype;
  x->root = root;
  x->bytes = count * type_size(datatype);
  *out = x;
  return ncclSuccess;
}

static void hold(struct collective *x, long long now) {
  x->state = HOLDING;
  x->since = now;
}

static void end(struct collective *x) {
  x->state = ENDED;
  pthread_mutex_lock(&lock);
  if (x->comm->finished < x->seq) x->comm->finished = x->seq;
  pthread_cond_broadcast(&comm_changed);
  pthread_mutex_unlock(&lock);
}

static void begin(struct collective *x, long long now) {
  struct ncclComm *c = x->comm;
  x->state = RUNNING;
  x->since = now;
  x->intent = (struct frame){.magic = WIRE_MAGIC, .kind = FRAME_INTENT, .seq = x->seq, .count = x->count,
                             .datatype = x->datatype, .root = x->root};
  x->ack = (struct frame){.magic = WIRE_MAGIC, .kind = FRAME_ACK, .seq = x->seq, .status = ncclSuccess};
  for (int p = 0; p < c->nranks; p++) {
    int self = p == c->rank;
    x->links[p] = (struct link){.in = self ? IN_DONE : IN_INTENT, .out = self ? OUT_DONE : OUT_INTENT};
  }
  if (c->rank == x->root && x->send != x->recv) memmove(x->recv, x->send, x->bytes);
}

static int complete(const struct collective *x) {
  for (int p = 0; p < x->comm->nranks; p++) {
    if (x->links[p].in != IN_DONE || x->links[p].out != OUT_DONE) return 0;
  }
  return 1;
}

static void lost(struct collective *x, int peer, int eof, long long now) {
  if (atomic_load(&x->comm->aborting)) return; /* our own abort shut the socket */
  fail_comm(x->comm, ncclRemoteError, "fake_nccl: rank %d lost its connection to rank %d during collective #%llu: "
            "%s", x->comm->rank, peer, (unsigned long long)x->seq,
            eof ? "closed by the peer (its process exited, it aborted, destroyed its communicator or failed)"
                : strerror(errno));
  hold(x, now);
}

/* Checks a peer's announcement against this rank's collective; 0 (and the communicator failed) when they differ. */
static int agree(struct collective *x, int peer, const struct frame *f, long long now) {
  struct ncclComm *c = x->comm;
  if (f->magic == WIRE_MAGIC && f->kind == FRAME_BYE) {
    fail_comm(c, ncclRemoteError, "fake_nccl: rank %d destroyed its communicator while rank %d waits in collective "
              "#%llu", peer, c->rank, (unsigned long long)x->seq);
  } else if (f->magic != WIRE_MAGIC || f->kind != FRAME_INTENT) {
    fail_comm(c, ncclInternalError, "fake_nccl: garbled frame from rank %d in collective #%llu", peer,
              (unsigned long long)x->seq);
  } else if (f->seq != x->seq || f->count != x->count || f->datatype != x->datatype || f->root != x->root) {
    fail_comm(c, ncclInvalidUsage, "fake_nccl: Broadcast arguments differ between ranks (every rank must pass the "
              "same): rank %d launched collective #%llu with count %llu, datatype %d, root %d; rank %d launched "
              "#%llu with count %llu, datatype %d, root %d", peer, (unsigned long long)f->seq,
              (unsigned long long)f->count, f->datatype, f->root, c->rank, (unsigned long long)x->seq,
              (unsigned long long)x->count, x->datatype, x->root);
  } else {
    return 1;
  }
  hold(x, now);
  return 0;
}

/* Sends what link `peer` has to send, as far as the socket takes it; 0 when the collective failed. */
static int pump_out(struct collective *x, int peer, long long now) {
  struct ncclComm *c = x->comm;
  struct link *l = &x->links[peer];
  for (;;) {
    const char *data;
    size_t length;
    switch (l->out) {
      case OUT_INTENT: data = (const char *)&x->intent; length = sizeof x->intent; break;
      case OUT_PAYLOAD: data = x->send; length = x->bytes; break;
      case OUT_ACK: data = (const char *)&x->ack; length = sizeof x->ack; break;
      default: return 1;
    }
    if (l->out_done < length) {
      ssize_t sent = send(c->peers[peer], data + l->out_done, length - l->out_done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0) {
        if (errno == EAGAIN || errno == EINTR) return 1;
        lost(x, peer, 0, now);
        return 0;
      }
      l->out_done += (size_t)sent;
      x->since = now;
      if (l->out == OUT_PAYLOAD) atomic_fetch_add(&bytes_sent, sent);
      if (l->out_done < length) return 1;
    }
    l->out_done = 0;
    if (l->out == OUT_INTENT && c->rank == x->root) {
      l->out = OUT_PAYLOAD;
    } else if (l->out == OUT_INTENT && peer == x->root) {
      l->out = l->in == IN_DONE ? OUT_ACK : OUT_ACK_WAIT;
    } else {
      l->out = OUT_DONE;
    }
  }
}

/* How much payload this process may still read: the pause control's allowance. */
static size_t allowed_payload(size_t wanted) {
  if (!atomic_load(&receive_paused_enabled)) return wanted;
  long long allowance = atomic_load(&receive_allowance);
  if (allowance <= 0) {
    atomic_store(&receive_paused, 1);
    return 0;
  }
  return (size_t)allowance < wanted ? (size_t)allowance : wanted;
}

/* Reads what link `peer` has for this collective, as far as it has arrived; 0 when the collective failed. */
static int pump_in(struct collective *x, int peer, long long now) {
  struct ncclComm *c = x->comm;
  struct link *l = &x->links[peer];
  for (;;) {
    char *into;
    size_t length;
    switch (l->in) {
      case IN_INTENT:
      case IN_ACK: into = (char *)&l->received; length = sizeof l->received; break;
      case IN_PAYLOAD: into = x->recv; length = x->bytes; break;
      default: return 1;
    }
    size_t wanted = length - l->in_done;
    if (l->in == IN_PAYLOAD) wanted = allowed_payload(wanted);
    if (wanted == 0) return 1;
    ssize_t got = recv(c->peers[peer], into + l->in_done, wanted, MSG_DONTWAIT);
    if (got <= 0) {
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
      lost(x, peer, got == 0, now);
      return 0;
    }
    l->in_done += (size_t)got;
    x->since = now;
    if (l->in == IN_PAYLOAD) {
      atomic_fetch_add(&bytes_received, got);
      if (atomic_load(&receive_paused_enabled)) atomic_fetch_sub(&receive_allowance, got);
    }
    if (l->in_done < length) continue;
    l->in_done = 0;
    if (l->in == IN_INTENT) {
      if (!agree(x, peer, &l->received, now)) return 0;
      l->in = peer == x->root ? IN_PAYLOAD : c->rank == x->root ? IN_ACK : IN_DONE;
    } else if (l->in == IN_PAYLOAD) {
      l->in = IN_DONE;
      if (l->out == OUT_ACK_WAIT) l->out = OUT_ACK;
    } else {
      const struct frame *f = &l->received;
      if (f->magic != WIRE_MAGIC || f->kind != FRAME_ACK || f->seq != x->seq || f->status != ncclSuccess) {
        fail_comm(c, f->kind == FRAME_ACK ? (ncclResult_t)f->status : ncclInternalError,
                  "fake_nccl: rank %d did not acknowledge collective #%llu", peer, (unsigned long long)x->seq);
        hold(x, now);
        return 0;
      }
      l->in = IN_DONE;
    }
  }
}

/*
 * A peer whose part of this collective has arrived closed its connection: it died or aborted (a pending collective
 * fails on every rank when any peer goes), unless it destroyed its communicator after saying BYE.
 */
static void check_departure(struct collective *x, int peer, long long now) {
  struct frame next;
  ssize_t got = recv(x->comm->peers[peer], &next, sizeof next, MSG_PEEK | MSG_DONTWAIT);
  if (got == (ssize_t)sizeof next && next.magic == WIRE_MAGIC && next.kind == FRAME_BYE) {
    x->links[peer].left = 1;
  } else if (got >= 0 || (errno != EAGAIN && errno != EINTR)) {
    lost(x, peer, 1, now);
  }
}

static void pump(struct collective *x, long long now) {
  for (int p = 0; p < x->comm->nranks && x->state == RUNNING; p++) {
    if (p == x->comm->rank) continue;
    if (pump_out(x, p, now) && pump_in(x, p, now)) pump_out(x, p, now); /* an ACK may be due now */
  }
}

/* Moves the state of one collective on; returns 1 while it has not ended. */
static int advance(struct collective *x, long long now, int *waiting) {
  struct ncclComm *c = x->comm;
  long long limit = stall_limit_ms();
  if (atomic_load(&c->aborting)) {
    end(x);
    return 0;
  }
  pthread_mutex_lock(&lock);
  int failed = c->state == COMM_FAILED;
  int turn = c->finished + 1 == x->seq;
  pthread_mutex_unlock(&lock);
  if (x->state == WAITING) {
    if (failed) {
      hold(x, now);
    } else if (turn) {
      begin(x, now);
    } else if (now - x->since > limit) {
      fail_comm(c, ncclSystemError, "fake_nccl: collective #%llu of rank %d waited %lld ms for the collectives "
                "launched before it (the fake's stall limit)", (unsigned long long)x->seq, c->rank, limit);
      hold(x, now);
    } else {
      *waiting = 1;
    }
  }
  if (x->state == RUNNING) {
    if (complete(x)) {
      end(x);
      return 0;
    }
    if (failed) {
      hold(x, now); /* another collective of this communicator failed it */
    } else if (now - x->since > limit) {
      fail_comm(c, ncclSystemError, "fake_nccl: collective #%llu of rank %d moved no byte for %lld ms (the fake's "
                "stall limit; real NCCL would wait)", (unsigned long long)x->seq, c->rank, limit);
      hold(x, now);
    }
  }
  if (x->state == HOLDING && now - x->since > limit) {
    end(x); /* the stall limit releases the stream of a failed collective nobody aborted */
    return 0;
  }
  return 1;
}

/*
 * The host work of a launch, on the stream's worker: runs its collectives (in sequence per communicator, several
 * communicators together) until each completed, failed and was aborted, or hit the stall limit. A failed
 * collective holds the stream until the abort: the stream does not complete.
 */
static void run_collectives(void *argument) {
  struct collective *list = argument;
  int count = 0;
  pthread_mutex_lock(&lock);
  for (struct collective *x = list; x != NULL; x = x->next) {
    x->comm->running++;
    count++;
  }
  pthread_mutex_unlock(&lock);
  size_t capacity = (size_t)count * (MAX_RANKS + 1);
  struct pollfd *fds = malloc(sizeof *fds * capacity);
  struct { struct collective *x; int peer; } *watched = malloc(sizeof *watched * capacity);
  if (watched == NULL) {
    free(fds);
    fds = NULL; /* without the arrays, progress is polled every 5 ms */
  }
  for (;;) {
    long long now = now_ms();
    int unfinished = 0;
    int waiting = 0;
    nfds_t n = 0;
    for (struct collective *x = list; x != NULL; x = x->next) {
      if (x->state == ENDED || !advance(x, now, &waiting)) continue;
      unfinished++;
      if (fds == NULL) continue;
      watched[n].x = NULL;
      fds[n++] = (struct pollfd){x->comm->wake_fd, POLLIN, 0};
      for (int p = 0; x->state == RUNNING && p < x->comm->nranks; p++) {
        const struct link *l = &x->links[p];
        short events = 0;
        if (l->in != IN_DONE && !(l->in == IN_PAYLOAD && atomic_load(&receive_paused))) events |= POLLIN;
        if (l->in == IN_DONE && p != x->comm->rank && !l->left) events |= POLLRDHUP; /* its leaving, not its data */
        if (l->out == OUT_INTENT || l->out == OUT_PAYLOAD || l->out == OUT_ACK) events |= POLLOUT;
        if (events == 0) continue;
        watched[n].x = x;
        watched[n].peer = p;
        fds[n++] = (struct pollfd){x->comm->peers[p], events, 0};
      }
    }
    if (unfinished == 0) break;
    poll(fds, fds == NULL ? 0 : n, waiting || fds == NULL ? 5 : 100);
    now = now_ms();
    for (nfds_t i = 0; i < n; i++) {
      struct collective *x = watched[i].x;
      if (x != NULL && (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) && x->state == RUNNING &&
          x->links[watched[i].peer].in == IN_DONE && !atomic_load(&x->comm->aborting)) {
        check_departure(x, watched[i].peer, now);
      }
    }
    for (struct collective *x = list; x != NULL; x = x->next) {
      if (x->state == RUNNING && !atomic_load(&x->comm->aborting)) pump(x, now);
    }
  }
  free(fds);
  free(watched);
  pthread_mutex_lock(&lock);
  for (struct collective *x = list; x != NULL; x = x->next) x->comm->running--;
  pthread_cond_broadcast(&comm_changed);
  pthread_mutex_unlock(&lock);
  free_collectives(list);
}

/* Numbers the collectives of one stream and launches them as one host work item; consumes the list. */
static ncclResult_t launch(struct collective *list, cudaStream_t stream) {
  long long now = now_ms();
  pthread_mutex_lock(&lock);
  for (struct collective *x = list; x != NULL; x = x->next) {
    x->seq = ++x->comm->launched;
    x->since = now;
  }
  pthread_mutex_unlock(&lock);
  int error = cudart_bridge()->launch(stream, run_collectives, list);
  if (error == 0) return ncclSuccess;
  for (struct collective *x = list; x != NULL; x = x->next) {
    fail_comm(x->comm, ncclUnhandledCudaError, "fake_nccl: launching collective #%llu on stream %p failed with "
              "CUDA error %d", (unsigned long long)x->seq, (void *)stream, error);
  }
  free_collectives(list);
  return ncclUnhandledCudaError;
}

/* Outside a group: launches at once. Inside: kept until the outermost ncclGroupEnd. */
static ncclResult_t enqueue(struct collective *x) {
  x->next = NULL;
  if (group_depth == 0) return launch(x, x->stream);
  if (group_tail == NULL) {
    group_head = x;
  } else {
    group_tail->next = x;
  }
  group_tail = x;
  return ncclSuccess;
}

/* The group's collectives, one launch per stream, each in call order. */
static ncclResult_t launch_group(void) {
  ncclResult_t first_error = ncclSuccess;
  while (group_head != NULL) {
    cudaStream_t stream = group_head->stream;
    struct collective *same = NULL, **same_tail = &same, *rest = NULL, **rest_tail = &rest;
    for (struct collective *x = group_head, *next; x != NULL; x = next) {
      next = x->next;
      x->next = NULL;
      struct collective ***tail = x->stream == stream ? &same_tail : &rest_tail;
      **tail = x;
      *tail = &x->next;
    }
    group_head = rest;
    ncclResult_t result = launch(same, stream);
    if (first_error == ncclSuccess) first_error = result;
  }
  group_tail = NULL;
  return first_error;
}

/* nranks == 1: recv = send, in stream order when the fake runtime is loaded (cudaMemcpyAsync), else at once. */
static ncclResult_t local_copy(void *recv, const void *send, size_t bytes, cudaStream_t stream, const char *op) {
  if (bytes == 0 || send == recv) return ncclSuccess;
  const struct cudart_bridge *cuda = cudart_bridge();
  if (cuda == NULL) {
    memmove(recv, send, bytes);
    return ncclSuccess;
  }
  int error = cuda->copy(stream, recv, send, bytes);
  if (error != 0) {
    set_last_error("%s : Cuda failure %d enqueueing the copy", op, error);
    return ncclUnhandledCudaError;
  }
  return ncclSuccess;
}

static ncclResult_t check_bytes(size_t count, int datatype, const char *op) {
  if (count > SIZE_MAX / type_size(datatype)) {
    set_last_error("%s : count %zu of type %d overflows a byte count", op, count, datatype);
    return ncclInvalidArgument;
  }
  return ncclSuccess;
}

static ncclResult_t broadcast(const char *op, const void *sendbuff, void *recvbuff, size_t count, int datatype,
                              int root, ncclComm_t comm, cudaStream_t stream) {
  struct comm_view view;
  CHECK(check_ready(comm, op, &view));
  CHECK(check_root(root, &view, op, "root"));
  CHECK(check_type(datatype, op));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(recvbuff, op, "recvbuff"));
  if (view.rank == root) CHECK(check_pointer(sendbuff, op, "sendbuff"));
  CHECK(check_bytes(count, datatype, op));
  if (view.nranks == 1) return local_copy(recvbuff, sendbuff, count * type_size(datatype), stream, op);
  if (cudart_bridge() == NULL) {
    set_last_error("fake_nccl: %s over %d ranks needs the fake CUDA runtime (libcudart.so.13 beside this library, "
                   "loaded) to order it on a stream", op, view.nranks);
    return ncclInvalidUsage;
  }
  struct collective *x;
  CHECK(new_collective(comm, op, sendbuff, recvbuff, count, datatype, root, stream, &x));
  return enqueue(x);
}

/* ---- the NCCL API ---- */

ncclResult_t ncclGetVersion(int *version) {
  ENTER();
  if (version == NULL) {
    set_last_error("ncclGetVersion : version argument is NULL");
    return ncclInvalidArgument;
  }
  *version = atomic_load(&version_code);
  return ncclSuccess;
}

static uint64_t new_nonce(void) {
  static atomic_ulong fallback;
  uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
    nonce = ((uint64_t)getpid() << 32) ^ (uint64_t)now_ms() ^ (atomic_fetch_add(&fallback, 1) * 0x9e3779b97f4a7c15ULL);
  }
  return nonce;
}

/* As NCCL: starts the bootstrap root in this process and puts its address into the id. */
ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId) {
  ENTER();
  if (uniqueId == NULL) {
    set_last_error("ncclGetUniqueId : uniqueId argument is NULL");
    return ncclInvalidArgument;
  }
  uint64_t nonce = new_nonce();
  uint16_t port = start_root(nonce);
  if (port == 0) return ncclSystemError;
  fill_unique_id(uniqueId, nonce, port);
  return ncclSuccess;
}

static ncclResult_t start_init_thread(struct ncclComm *c) {
  c->has_init_thread = 1;
  int started = pthread_create(&c->init_thread, NULL, init_main, c);
  if (started != 0) {
    c->has_init_thread = 0;
    set_last_error("fake_nccl: cannot start the initialisation thread: %s", strerror(started));
    return ncclSystemError;
  }
  return ncclSuccess;
}

static ncclResult_t out_of_memory(const char *op) {
  set_last_error("%s : out of host memory", op);
  return ncclSystemError;
}

static ncclResult_t init_rank(const char *op, ncclComm_t *comm, int nranks, const ncclUniqueId *commId, int rank,
                              ncclConfig_t *config) {
  if (comm == NULL) {
    set_last_error("%s : comm argument is NULL", op);
    return ncclInvalidArgument;
  }
  *comm = NULL;
  if (nranks < 1 || rank < 0 || rank >= nranks) {
    set_last_error("%s : Invalid rank requested : %d/%d", op, rank, nranks);
    return ncclInvalidArgument;
  }
  if (nranks > MAX_RANKS) {
    set_last_error("fake_nccl: %s : at most %d ranks are modelled, %d requested", op, MAX_RANKS, nranks);
    return ncclInvalidArgument;
  }
  int blocking;
  CHECK(read_config(config, op, &blocking));
  CHECK(check_unique_id(commId, op));
  char bus_id[BUS_ID_BYTES];
  int device = current_device(bus_id);
  struct ncclComm *c = alloc_comm(nranks, rank, device, bus_id, blocking);
  if (c == NULL) return out_of_memory(op);
  c->id = *commId;
  link_comm(c);
  if (nranks == 1) {
    *comm = c;
    return blocking ? ncclSuccess : ncclInProgress;
  }
  if (!blocking) {
    ncclResult_t started = start_init_thread(c);
    if (started != ncclSuccess) {
      end_comm(c, op, 0);
      return started;
    }
    *comm = c;
    return ncclInProgress;
  }
  ncclResult_t formed = form(c);
  set_formed(c, formed);
  if (formed != ncclSuccess) {
    end_comm(c, op, 0);
    return formed;
  }
  *comm = c;
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank) {
  ENTER();
  return init_rank(__func__, comm, nranks, &commId, rank, NULL);
}

ncclResult_t ncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank,
                                    ncclConfig_t *config) {
  ENTER();
  return init_rank(__func__, comm, nranks, &commId, rank, config);
}

/* Every rank in this process at once, as ncclGetUniqueId + ncclCommInitRank per device would. */
ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist) {
  ENTER();
  if (comms == NULL) {
    set_last_error("ncclCommInitAll : comms argument is NULL");
    return ncclInvalidArgument;
  }
  if (ndev < 1 || ndev > MAX_RANKS) {
    set_last_error("ncclCommInitAll : Invalid device count requested : %d", ndev);
    return ncclInvalidArgument;
  }
  ncclUniqueId id = {0}; /* a single rank needs no rendezvous */
  if (ndev > 1) {
    uint64_t nonce = new_nonce();
    uint16_t port = start_root(nonce);
    if (port == 0) return ncclSystemError;
    fill_unique_id(&id, nonce, port);
  }
  const struct cudart_bridge *cuda = cudart_bridge();
  ncclResult_t result = ncclSuccess;
  int created = 0;
  for (; created < ndev && result == ncclSuccess; created++) {
    int device = devlist == NULL ? created : devlist[created];
    char bus_id[BUS_ID_BYTES] = "";
    if (cuda != NULL && cuda->bus_id(device, bus_id, BUS_ID_BYTES) != 0) bus_id[0] = '\0';
    struct ncclComm *c = alloc_comm(ndev, created, device, bus_id, 1);
    if (c == NULL) {
      result = out_of_memory("ncclCommInitAll");
      break;
    }
    c->id = id;
    link_comm(c);
    comms[created] = c;
    if (ndev > 1) result = start_init_thread(c);
  }
  for (int i = 0; i < created && ndev > 1; i++) {
    struct ncclComm *c = comms[i];
    if (c->has_init_thread) {
      pthread_join(c->init_thread, NULL);
      c->has_init_thread = 0;
    }
    pthread_mutex_lock(&lock);
    if (result == ncclSuccess && c->state == COMM_FAILED) result = c->error;
    pthread_mutex_unlock(&lock);
  }
  if (result != ncclSuccess) {
    for (int i = 0; i < created; i++) {
      end_comm(comms[i], "ncclCommInitAll", 0);
      comms[i] = NULL;
    }
  }
  return result;
}

ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm, ncclConfig_t *config) {
  ENTER();
  (void)key;
  struct comm_view view;
  CHECK(check_ready(comm, __func__, &view));
  if (newcomm == NULL) {
    set_last_error("ncclCommSplit : newcomm argument is NULL");
    return ncclInvalidArgument;
  }
  *newcomm = NULL;
  if (color < SPLIT_NOCOLOR) {
    set_last_error("ncclCommSplit : invalid color %d", color);
    return ncclInvalidArgument;
  }
  CHECK(check_single_rank(&view, "ncclCommSplit"));
  int blocking;
  CHECK(read_config(config, __func__, &blocking));
  if (color == SPLIT_NOCOLOR) return ncclSuccess;
  struct ncclComm *c = alloc_comm(1, 0, view.device, "", blocking);
  if (c == NULL) return out_of_memory(__func__);
  link_comm(c);
  *newcomm = c;
  return blocking ? ncclSuccess : ncclInProgress;
}

/* Over nranks > 1: waits (blocking) or lets ncclCommGetAsyncError answer ncclInProgress (non-blocking) until every
 * collective launched so far has ended. */
ncclResult_t ncclCommFinalize(ncclComm_t comm) {
  ENTER();
  struct comm_view view;
  CHECK(check_ready(comm, __func__, &view));
  pthread_mutex_lock(&lock);
  struct ncclComm *c = live_locked(comm);
  if (c != NULL && c->nranks == 1 && !c->blocking) c->pending_polls = 1;
  if (c != NULL && c->nranks > 1) {
    c->finalizing = 1;
    long long deadline = now_ms() + stall_limit_ms();
    while (c->blocking && c->finished < c->launched && c->state == COMM_READY && now_ms() < deadline) {
      timed_wait(deadline);
    }
  }
  pthread_mutex_unlock(&lock);
  if (c == NULL) return not_live(comm, __func__);
  return view.blocking ? ncclSuccess : ncclInProgress;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  ENTER();
  return end_comm(comm, __func__, 1);
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  ENTER();
  return end_comm(comm, __func__, 0);
}

const char *ncclGetErrorString(ncclResult_t result) {
  atomic_fetch_add(&call_counts[function_index(__func__)], 1);
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    case ncclTimeout: return "NCCL operation timed out";
    default: return "unknown result code";
  }
}

const char *ncclGetLastError(ncclComm_t comm) {
  (void)comm; /* NCCL keeps one last error per process; the communicator is not consulted */
  atomic_fetch_add(&call_counts[function_index(__func__)], 1);
  pthread_mutex_lock(&lock);
  memcpy(last_error_copy, last_error, sizeof last_error_copy);
  pthread_mutex_unlock(&lock);
  return last_error_copy;
}

/* The state the caller polls: ncclInProgress while forming (or finalizing), then ncclSuccess or the failure. */
static ncclResult_t async_state_locked(struct ncclComm *c) {
  if (c->blocking == 0 && atomic_load(&hang)) return ncclInProgress;
  if (c->nranks == 1) {
    if (c->pending_polls == 0) return ncclSuccess;
    c->pending_polls--;
    return ncclInProgress;
  }
  switch (c->state) {
    case COMM_INITIALIZING: return ncclInProgress;
    case COMM_FAILED: return c->error;
    default: return c->finalizing && c->finished < c->launched ? ncclInProgress : ncclSuccess;
  }
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError) {
  ENTER();
  record_out_address(__func__, asyncError);
  if (comm == NULL) return null_comm(__func__);
  ncclResult_t state = ncclSuccess;
  pthread_mutex_lock(&lock);
  struct ncclComm *live = live_locked(comm);
  if (live != NULL && asyncError != NULL) state = async_state_locked(live);
  pthread_mutex_unlock(&lock);
  if (live == NULL) return not_live(comm, __func__);
  if (asyncError == NULL) {
    set_last_error("ncclCommGetAsyncError : asyncError argument is NULL");
    return ncclInvalidArgument;
  }
  *asyncError = state;
  return ncclSuccess;
}

/* Answers one int field of the communicator (an offset into struct comm_view). */
static ncclResult_t int_query(ncclComm_t comm, int *out, size_t view_field, const char *op) {
  record_out_address(op, out);
  struct comm_view view;
  CHECK(view_comm(comm, op, &view));
  CHECK(check_pointer(out, op, "output"));
  memcpy(out, (const char *)&view + view_field, sizeof *out);
  return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int *count) {
  ENTER();
  return int_query(comm, count, offsetof(struct comm_view, nranks), __func__);
}

ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int *device) {
  ENTER();
  return int_query(comm, device, offsetof(struct comm_view, device), __func__);
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank) {
  ENTER();
  return int_query(comm, rank, offsetof(struct comm_view, rank), __func__);
}

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root,
                           ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  return broadcast("Broadcast", sendbuff, recvbuff, count, datatype, root, comm, stream);
}

/* The deprecated in-place broadcast. */
ncclResult_t ncclBcast(void *buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
                       cudaStream_t stream) {
  ENTER();
  return broadcast("Bcast", buff, buff, count, datatype, root, comm, stream);
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  struct comm_view view;
  CHECK(check_ready(comm, "AllReduce", &view));
  CHECK(check_type(datatype, "AllReduce"));
  CHECK(check_op(op, "AllReduce"));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "AllReduce", "sendbuff"));
  CHECK(check_pointer(recvbuff, "AllReduce", "recvbuff"));
  CHECK(check_single_rank(&view, "AllReduce"));
  CHECK(check_bytes(count, datatype, "AllReduce"));
  /* every op over one rank is the identity */
  return local_copy(recvbuff, sendbuff, count * type_size(datatype), stream, "AllReduce");
}

ncclResult_t ncclReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                        ncclRedOp_t op, int root, ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  struct comm_view view;
  CHECK(check_ready(comm, "Reduce", &view));
  CHECK(check_root(root, &view, "Reduce", "root"));
  CHECK(check_type(datatype, "Reduce"));
  CHECK(check_op(op, "Reduce"));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "Reduce", "sendbuff"));
  if (view.rank == root) CHECK(check_pointer(recvbuff, "Reduce", "recvbuff"));
  CHECK(check_single_rank(&view, "Reduce"));
  CHECK(check_bytes(count, datatype, "Reduce"));
  return local_copy(recvbuff, sendbuff, count * type_size(datatype), stream, "Reduce");
}

ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, ncclDataType_t datatype,
                           ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  struct comm_view view;
  CHECK(check_ready(comm, "AllGather", &view));
  CHECK(check_type(datatype, "AllGather"));
  if (sendcount == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "AllGather", "sendbuff"));
  CHECK(check_pointer(recvbuff, "AllGather", "recvbuff"));
  CHECK(check_single_rank(&view, "AllGather"));
  CHECK(check_bytes(sendcount, datatype, "AllGather"));
  return local_copy(recvbuff, sendbuff, sendcount * type_size(datatype), stream, "AllGather");
}

ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount, ncclDataType_t datatype,
                               ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  struct comm_view view;
  CHECK(check_ready(comm, "ReduceScatter", &view));
  CHECK(check_type(datatype, "ReduceScatter"));
  CHECK(check_op(op, "ReduceScatter"));
  if (recvcount == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "ReduceScatter", "sendbuff"));
  CHECK(check_pointer(recvbuff, "ReduceScatter", "recvbuff"));
  CHECK(check_single_rank(&view, "ReduceScatter"));
  CHECK(check_bytes(recvcount, datatype, "ReduceScatter"));
  return local_copy(recvbuff, sendbuff, recvcount * type_size(datatype), stream, "ReduceScatter");
}

/* A send to self and the matching receive (nranks 1): whichever comes second copies the data. */
ncclResult_t ncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                      cudaStream_t stream) {
  ENTER();
  (void)stream;
  struct comm_view view;
  CHECK(check_ready(comm, "Send", &view));
  CHECK(check_root(peer, &view, "Send", "peer"));
  CHECK(check_type(datatype, "Send"));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "Send", "sendbuff"));
  CHECK(check_single_rank(&view, "Send"));
  pthread_mutex_lock(&lock);
  struct ncclComm *live = live_locked(comm);
  if (live != NULL) { /* NULL: destroyed by another thread since the check */
    if (live->pending_recv != NULL && live->pending_count == count && live->pending_type == (int)datatype) {
      memmove(live->pending_recv, sendbuff, count * type_size(datatype));
      live->pending_recv = NULL;
    } else {
      live->pending_send = sendbuff;
      live->pending_count = count;
      live->pending_type = datatype;
    }
  }
  pthread_mutex_unlock(&lock);
  return live == NULL ? not_live(comm, "Send") : ncclSuccess;
}

ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm,
                      cudaStream_t stream) {
  ENTER();
  (void)stream;
  struct comm_view view;
  CHECK(check_ready(comm, "Recv", &view));
  CHECK(check_root(peer, &view, "Recv", "peer"));
  CHECK(check_type(datatype, "Recv"));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(recvbuff, "Recv", "recvbuff"));
  CHECK(check_single_rank(&view, "Recv"));
  pthread_mutex_lock(&lock);
  struct ncclComm *live = live_locked(comm);
  if (live != NULL) { /* NULL: destroyed by another thread since the check */
    if (live->pending_send != NULL && live->pending_count == count && live->pending_type == (int)datatype) {
      memmove(recvbuff, live->pending_send, count * type_size(datatype));
      live->pending_send = NULL;
    } else {
      live->pending_recv = recvbuff;
      live->pending_count = count;
      live->pending_type = datatype;
    }
  }
  pthread_mutex_unlock(&lock);
  return live == NULL ? not_live(comm, "Recv") : ncclSuccess;
}

ncclResult_t ncclGroupStart(void) {
  ENTER();
  group_depth++;
  return ncclSuccess;
}

/* The outermost ncclGroupEnd launches the group's collectives: one host work item per stream. */
ncclResult_t ncclGroupEnd(void) {
  ENTER();
  if (group_depth == 0) {
    set_last_error("ncclGroupEnd: not in a group call.");
    return ncclInvalidUsage;
  }
  if (--group_depth > 0) return ncclSuccess;
  return launch_group();
}

ncclResult_t ncclMemAlloc(void **ptr, size_t size) {
  ENTER();
  CHECK(check_pointer(ptr, "ncclMemAlloc", "ptr"));
  *ptr = malloc(size == 0 ? 1 : size);
  if (*ptr == NULL) {
    set_last_error("ncclMemAlloc : out of memory allocating %zu bytes", size);
    return ncclSystemError;
  }
  return ncclSuccess;
}

ncclResult_t ncclMemFree(void *ptr) {
  ENTER();
  free(ptr);
  return ncclSuccess;
}

ncclResult_t ncclCommRegister(const ncclComm_t comm, void *buff, size_t size, void **handle) {
  ENTER();
  struct comm_view view;
  CHECK(check_ready(comm, "ncclCommRegister", &view));
  CHECK(check_pointer(buff, "ncclCommRegister", "buff"));
  CHECK(check_pointer(handle, "ncclCommRegister", "handle"));
  struct registration *registration = malloc(sizeof *registration);
  if (registration == NULL) return out_of_memory("ncclCommRegister");
  registration->buff = buff;
  registration->size = size;
  *handle = registration;
  return ncclSuccess;
}

ncclResult_t ncclCommDeregister(const ncclComm_t comm, void *handle) {
  ENTER();
  struct comm_view view;
  CHECK(check_ready(comm, "ncclCommDeregister", &view));
  CHECK(check_pointer(handle, "ncclCommDeregister", "handle"));
  free(handle);
  return ncclSuccess;
}
