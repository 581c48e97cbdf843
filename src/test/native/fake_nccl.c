/*
 * TEST FIXTURE, not NCCL: a fake libnccl.so.2 for panama-nccl's tests on machines without a GPU.
 *
 * It implements every function declared in native-headers/nccl_api.h and checks arguments the way NCCL
 * does (NULL out-pointers, root/peer/datatype/op ranges, ncclConfig_t magic/blocking, fields newer than its
 * version reset to their defaults),
 * so the Java layer's marshalling is exercised for real: the 128-byte ncclUniqueId must arrive intact
 * by value, config fields are read back, and with nranks == 1 collectives copy send -> recv with memcpy
 * (the "device" pointers are host memory). Non-blocking communicators (blocking = 0) answer
 * ncclInProgress from init/finalize and reach ncclSuccess on a later ncclCommGetAsyncError poll.
 *
 * Test controls (exported, bound by src/test/java/io/github/panamanccl/testing/FakeNative.java):
 *   long fake_nccl_call_count(const char *function)   calls since the last reset; -1 for an unknown name
 *   void fake_nccl_reset(void)                         zero counters, drop pending failures, hang off
 *   void fake_nccl_fail_next(const char *function, int result)
 *                                                      the next call of function returns result
 *   void fake_nccl_set_hang(int hang)                  1: non-blocking comms stay ncclInProgress
 *   long long fake_nccl_last_config(const char *field) a field of the last ncclConfig_t read
 *   long fake_nccl_live_comms(void)                    communicators created and not destroyed/aborted
 *   long long fake_nccl_last_out_address(const char *function)
 *                                                      address of the out-parameter this thread last passed to
 *                                                      ncclCommGetAsyncError or an int query; 0 when none
 */
#define _POSIX_C_SOURCE 200809L

#include "nccl_api.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_VERSION_CODE 23007
#define COMM_MAGIC 0x0fa6ec0du
#define SPLIT_NOCOLOR (-1)

static const char *const FUNCTIONS[] = {
    "ncclGetVersion", "ncclGetUniqueId", "ncclCommInitRank", "ncclCommInitRankConfig", "ncclCommInitAll",
    "ncclCommSplit", "ncclCommFinalize", "ncclCommDestroy", "ncclCommAbort", "ncclGetErrorString",
    "ncclGetLastError", "ncclCommGetAsyncError", "ncclCommCount", "ncclCommCuDevice", "ncclCommUserRank",
    "ncclBroadcast", "ncclBcast", "ncclAllReduce", "ncclReduce", "ncclAllGather", "ncclReduceScatter",
    "ncclSend", "ncclRecv", "ncclGroupStart", "ncclGroupEnd", "ncclMemAlloc", "ncclMemFree",
    "ncclCommRegister", "ncclCommDeregister",
};
#define FUNCTION_COUNT ((int)(sizeof FUNCTIONS / sizeof FUNCTIONS[0]))

struct ncclComm {
  unsigned magic;
  int nranks;
  int rank;
  int device;
  int blocking;
  int pending_polls; /* ncclCommGetAsyncError answers ncclInProgress this many more times */
  /* A self send or receive waiting for its partner (nranks == 1). */
  const void *pending_send;
  void *pending_recv;
  size_t pending_count;
  int pending_type;
  struct ncclComm *next;
};

struct registration {
  void *buff;
  size_t size;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long call_counts[FUNCTION_COUNT];
static int forced_pending[FUNCTION_COUNT];
static int forced_result[FUNCTION_COUNT];
static atomic_int hang;
static atomic_ulong unique_id_counter;
static char last_error[512];
static struct ncclComm *live_comms;
static ncclConfig_t last_config;
static int have_last_config;
static _Thread_local int group_depth;
static _Thread_local char last_error_copy[512];
static _Thread_local uintptr_t last_out_address[FUNCTION_COUNT];

static int function_index(const char *function) {
  if (function == NULL) return -1;
  for (int i = 0; i < FUNCTION_COUNT; i++) {
    if (strcmp(FUNCTIONS[i], function) == 0) return i;
  }
  return -1;
}

static void set_last_error(const char *format, ...) {
  va_list args;
  va_start(args, format);
  pthread_mutex_lock(&lock);
  vsnprintf(last_error, sizeof last_error, format, args);
  pthread_mutex_unlock(&lock);
  va_end(args);
}

/* Counts the call; returns 1 and the forced result when a failure was requested for it. */
static int enter(const char *function, ncclResult_t *forced) {
  int index = function_index(function);
  if (index < 0) return 0;
  atomic_fetch_add(&call_counts[index], 1);
  pthread_mutex_lock(&lock);
  int take = forced_pending[index];
  if (take) {
    forced_pending[index] = 0;
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
  group_depth = 0;
}

void fake_nccl_fail_next(const char *function, int result) {
  int index = function_index(function);
  if (index < 0) return;
  pthread_mutex_lock(&lock);
  forced_pending[index] = 1;
  forced_result[index] = result;
  pthread_mutex_unlock(&lock);
}

void fake_nccl_set_hang(int value) { atomic_store(&hang, value); }

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

/* ---- helpers ---- */

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
};

static ncclResult_t view_comm(ncclComm_t comm, const char *op, struct comm_view *view) {
  if (comm == NULL) return null_comm(op);
  pthread_mutex_lock(&lock);
  struct ncclComm *c = live_locked(comm);
  if (c != NULL) {
    *view = (struct comm_view){c->nranks, c->rank, c->device, c->blocking, c->pending_polls > 0};
  }
  pthread_mutex_unlock(&lock);
  return c == NULL ? not_live(comm, op) : ncclSuccess;
}

/* A communicator can run work once its initialisation finished (blocking, or polled to completion). */
static ncclResult_t check_ready(ncclComm_t comm, const char *op, struct comm_view *view) {
  ncclResult_t result = view_comm(comm, op, view);
  if (result != ncclSuccess) return result;
  if (view->initializing) {
    set_last_error("%s : communicator is still initializing (poll ncclCommGetAsyncError first)", op);
    return ncclInvalidUsage;
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

/* The fake moves data only inside one process: collectives need a single-rank communicator. */
static ncclResult_t check_single_rank(const struct comm_view *comm, const char *op) {
  if (comm->nranks != 1) {
    set_last_error("fake_nccl: %s needs nranks 1, this communicator has %d (the fake cannot move data between "
                   "processes)", op, comm->nranks);
    return ncclInvalidUsage;
  }
  return ncclSuccess;
}

static void copy_elements(void *recv, const void *send, size_t count, int datatype) {
  if (count > 0 && send != recv) memmove(recv, send, count * type_size(datatype));
}

/* ncclGetUniqueId writes "FAKENCCL", a counter, then bytes derived from the counter. */
static void fill_unique_id(ncclUniqueId *id, unsigned long counter) {
  memcpy(id->internal, "FAKENCCL", 8);
  for (int i = 0; i < 8; i++) id->internal[8 + i] = (char)((counter >> (8 * i)) & 0xff);
  for (int i = 16; i < NCCL_UNIQUE_ID_BYTES; i++) id->internal[i] = (char)((i * 31 + counter * 7 + 0x5a) & 0xff);
}

static ncclResult_t check_unique_id(const ncclUniqueId *id, const char *op) {
  if (memcmp(id->internal, "FAKENCCL", 8) != 0) {
    set_last_error("%s : ncclUniqueId does not come from ncclGetUniqueId (bad header)", op);
    return ncclInvalidArgument;
  }
  unsigned long counter = 0;
  for (int i = 0; i < 8; i++) counter |= (unsigned long)(unsigned char)id->internal[8 + i] << (8 * i);
  ncclUniqueId expected;
  fill_unique_id(&expected, counter);
  for (int i = 16; i < NCCL_UNIQUE_ID_BYTES; i++) {
    if (expected.internal[i] != id->internal[i]) {
      set_last_error("%s : ncclUniqueId corrupted at byte %d", op, i);
      return ncclInvalidArgument;
    }
  }
  return ncclSuccess;
}

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

static ncclResult_t new_comm(ncclComm_t *out, int nranks, int rank, int device, int blocking) {
  struct ncclComm *comm = calloc(1, sizeof *comm);
  if (comm == NULL) {
    set_last_error("fake_nccl: out of host memory");
    return ncclSystemError;
  }
  comm->magic = COMM_MAGIC;
  comm->nranks = nranks;
  comm->rank = rank;
  comm->device = device;
  comm->blocking = blocking;
  comm->pending_polls = blocking ? 0 : 1;
  pthread_mutex_lock(&lock);
  comm->next = live_comms;
  live_comms = comm;
  pthread_mutex_unlock(&lock);
  *out = comm;
  return blocking ? ncclSuccess : ncclInProgress;
}

static ncclResult_t free_comm(ncclComm_t comm, const char *op) {
  if (comm == NULL) return ncclSuccess; /* as NCCL: destroying or aborting NULL succeeds */
  pthread_mutex_lock(&lock);
  struct ncclComm **link = &live_comms;
  while (*link != NULL && *link != comm) link = &(*link)->next;
  int found = *link != NULL;
  if (found) *link = comm->next;
  pthread_mutex_unlock(&lock);
  if (!found) {
    set_last_error("%s : comm %p is not a live communicator", op, (void *)comm);
    return ncclInvalidArgument;
  }
  comm->magic = 0;
  free(comm);
  return ncclSuccess;
}

/* ---- the NCCL API ---- */

ncclResult_t ncclGetVersion(int *version) {
  ENTER();
  if (version == NULL) {
    set_last_error("ncclGetVersion : version argument is NULL");
    return ncclInvalidArgument;
  }
  *version = FAKE_VERSION_CODE;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId) {
  ENTER();
  if (uniqueId == NULL) {
    set_last_error("ncclGetUniqueId : uniqueId argument is NULL");
    return ncclInvalidArgument;
  }
  fill_unique_id(uniqueId, atomic_fetch_add(&unique_id_counter, 1) + 1);
  return ncclSuccess;
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
  int blocking;
  ncclResult_t result = read_config(config, op, &blocking);
  if (result != ncclSuccess) return result;
  result = check_unique_id(commId, op);
  if (result != ncclSuccess) return result;
  return new_comm(comm, nranks, rank, 0, blocking);
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

ncclResult_t ncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist) {
  ENTER();
  if (comms == NULL) {
    set_last_error("ncclCommInitAll : comms argument is NULL");
    return ncclInvalidArgument;
  }
  if (ndev < 1) {
    set_last_error("ncclCommInitAll : Invalid device count requested : %d", ndev);
    return ncclInvalidArgument;
  }
  for (int i = 0; i < ndev; i++) {
    ncclResult_t result = new_comm(&comms[i], ndev, i, devlist == NULL ? i : devlist[i], 1);
    if (result != ncclSuccess) return result;
  }
  return ncclSuccess;
}

ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm, ncclConfig_t *config) {
  ENTER();
  (void)key;
  struct comm_view view;
  ncclResult_t result = check_ready(comm, __func__, &view);
  if (result != ncclSuccess) return result;
  if (newcomm == NULL) {
    set_last_error("ncclCommSplit : newcomm argument is NULL");
    return ncclInvalidArgument;
  }
  *newcomm = NULL;
  if (color < SPLIT_NOCOLOR) {
    set_last_error("ncclCommSplit : invalid color %d", color);
    return ncclInvalidArgument;
  }
  int blocking;
  result = read_config(config, __func__, &blocking);
  if (result != ncclSuccess) return result;
  if (color == SPLIT_NOCOLOR) return ncclSuccess;
  return new_comm(newcomm, 1, 0, view.device, blocking);
}

ncclResult_t ncclCommFinalize(ncclComm_t comm) {
  ENTER();
  struct comm_view view;
  ncclResult_t result = check_ready(comm, __func__, &view);
  if (result != ncclSuccess) return result;
  if (view.blocking) return ncclSuccess;
  pthread_mutex_lock(&lock);
  struct ncclComm *live = live_locked(comm);
  if (live != NULL) live->pending_polls = 1;
  pthread_mutex_unlock(&lock);
  return live == NULL ? not_live(comm, __func__) : ncclInProgress;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  ENTER();
  return free_comm(comm, __func__);
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  ENTER();
  return free_comm(comm, __func__);
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

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError) {
  ENTER();
  record_out_address(__func__, asyncError);
  if (comm == NULL) return null_comm(__func__);
  ncclResult_t state = ncclSuccess;
  pthread_mutex_lock(&lock);
  struct ncclComm *live = live_locked(comm);
  if (live != NULL && asyncError != NULL) {
    if (live->blocking == 0 && atomic_load(&hang)) {
      state = ncclInProgress;
    } else if (live->pending_polls > 0) {
      live->pending_polls--;
      state = ncclInProgress;
    }
  }
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
  ncclResult_t result = view_comm(comm, op, &view);
  if (result != ncclSuccess) return result;
  result = check_pointer(out, op, "output");
  if (result != ncclSuccess) return result;
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

#define CHECK(expression)                          \
  do {                                             \
    ncclResult_t checked_ = (expression);          \
    if (checked_ != ncclSuccess) return checked_;  \
  } while (0)

ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, int root,
                           ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  (void)stream;
  struct comm_view view;
  CHECK(check_ready(comm, "Broadcast", &view));
  CHECK(check_root(root, &view, "Broadcast", "root"));
  CHECK(check_type(datatype, "Broadcast"));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(recvbuff, "Broadcast", "recvbuff"));
  if (view.rank == root) CHECK(check_pointer(sendbuff, "Broadcast", "sendbuff"));
  CHECK(check_single_rank(&view, "Broadcast"));
  copy_elements(recvbuff, sendbuff, count, datatype);
  return ncclSuccess;
}

ncclResult_t ncclBcast(void *buff, size_t count, ncclDataType_t datatype, int root, ncclComm_t comm,
                       cudaStream_t stream) {
  ENTER();
  (void)stream;
  struct comm_view view;
  CHECK(check_ready(comm, "Bcast", &view));
  CHECK(check_root(root, &view, "Bcast", "root"));
  CHECK(check_type(datatype, "Bcast"));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(buff, "Bcast", "buff"));
  CHECK(check_single_rank(&view, "Bcast"));
  return ncclSuccess; /* in place on a single rank: nothing moves */
}

ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  (void)stream;
  struct comm_view view;
  CHECK(check_ready(comm, "AllReduce", &view));
  CHECK(check_type(datatype, "AllReduce"));
  CHECK(check_op(op, "AllReduce"));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "AllReduce", "sendbuff"));
  CHECK(check_pointer(recvbuff, "AllReduce", "recvbuff"));
  CHECK(check_single_rank(&view, "AllReduce"));
  copy_elements(recvbuff, sendbuff, count, datatype); /* every op over one rank is the identity */
  return ncclSuccess;
}

ncclResult_t ncclReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype,
                        ncclRedOp_t op, int root, ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  (void)stream;
  struct comm_view view;
  CHECK(check_ready(comm, "Reduce", &view));
  CHECK(check_root(root, &view, "Reduce", "root"));
  CHECK(check_type(datatype, "Reduce"));
  CHECK(check_op(op, "Reduce"));
  if (count == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "Reduce", "sendbuff"));
  if (view.rank == root) CHECK(check_pointer(recvbuff, "Reduce", "recvbuff"));
  CHECK(check_single_rank(&view, "Reduce"));
  copy_elements(recvbuff, sendbuff, count, datatype);
  return ncclSuccess;
}

ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, ncclDataType_t datatype,
                           ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  (void)stream;
  struct comm_view view;
  CHECK(check_ready(comm, "AllGather", &view));
  CHECK(check_type(datatype, "AllGather"));
  if (sendcount == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "AllGather", "sendbuff"));
  CHECK(check_pointer(recvbuff, "AllGather", "recvbuff"));
  CHECK(check_single_rank(&view, "AllGather"));
  copy_elements(recvbuff, sendbuff, sendcount, datatype);
  return ncclSuccess;
}

ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount, ncclDataType_t datatype,
                               ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  ENTER();
  (void)stream;
  struct comm_view view;
  CHECK(check_ready(comm, "ReduceScatter", &view));
  CHECK(check_type(datatype, "ReduceScatter"));
  CHECK(check_op(op, "ReduceScatter"));
  if (recvcount == 0) return ncclSuccess;
  CHECK(check_pointer(sendbuff, "ReduceScatter", "sendbuff"));
  CHECK(check_pointer(recvbuff, "ReduceScatter", "recvbuff"));
  CHECK(check_single_rank(&view, "ReduceScatter"));
  copy_elements(recvbuff, sendbuff, recvcount, datatype);
  return ncclSuccess;
}

/* A send to self and the matching receive: whichever comes second copies the data. */
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
      copy_elements(live->pending_recv, sendbuff, count, datatype);
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
      copy_elements(recvbuff, live->pending_send, count, datatype);
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

ncclResult_t ncclGroupEnd(void) {
  ENTER();
  if (group_depth == 0) {
    set_last_error("ncclGroupEnd: not in a group call.");
    return ncclInvalidUsage;
  }
  group_depth--;
  return ncclSuccess;
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
  if (registration == NULL) {
    set_last_error("ncclCommRegister : out of host memory");
    return ncclSystemError;
  }
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
