/*
 * TEST FIXTURE, not the CUDA runtime: a fake libcudart.so.13 for the `fake-cuda` test execution on machines
 * without a GPU. Written from the CUDA Runtime API documentation (stream and event semantics, cudaLaunchHostFunc)
 * and our API facts, not from NVIDIA code. Implements every function declared in
 * native-headers/cuda_runtime_api_subset.h, and a small bridge through which the fake libnccl reaches streams and
 * devices (below).
 *
 * What it models:
 * - Devices: 1 by default, up to 64 (fake_cudart_set_device_count); the current device is per thread
 *   (cudaSetDevice/cudaGetDevice); device d has the PCI bus id 0000:(0xfa + d):00.0. Host memory poses as device
 *   memory: cudaMalloc is a 256-byte aligned malloc tracked with the device that was current.
 * - Streams are ordered queues. Work whose stream is idle runs at once on the calling thread (indistinguishable
 *   from a fast GPU); work behind pending work waits in the queue and runs, in order, on the stream's own worker
 *   thread. cudaStreamQuery answers cudaErrorNotReady while anything is pending, cudaStreamSynchronize and
 *   cudaDeviceSynchronize wait. Host work (the bridge's launch, modelled on cudaLaunchHostFunc) always runs on the
 *   worker and holds back all later work of the stream until it returns: that is how a fake NCCL collective stays
 *   pending on its stream until its bytes have moved.
 * - Events record a generation: cudaEventQuery is cudaErrorNotReady until the stream reached the latest record,
 *   cudaStreamWaitEvent holds a stream until the event's record at the time of the call completed, and
 *   cudaEventElapsedTime reads the completion times. An event or stream destroyed while work still refers to it
 *   is released when that work is done, as CUDA does.
 * - The legacy and per-thread default streams are one stream here, and it does not synchronise with other
 *   streams (panama-nccl creates only cudaStreamNonBlocking streams). cudaMemcpy and cudaMemset run on it and
 *   return when done.
 * - Arguments are checked as CUDA 13.0 does where the Java layer depends on it, notably cudaMemcpyBatchAsync
 *   (rejects the legacy NULL stream, count 0, NULL arrays, numAttrs < 1, attrsIdxs[0] != 0).
 * Not modelled: kernels, performance, peer access, managed memory, graphs, device-side faults (inject them).
 *
 * Test controls (exported, bound by src/test/java/io/github/panamanccl/testing/FakeNative.java):
 *   long fake_cudart_call_count(const char *function)  calls since the last reset; -1 for an unknown name
 *   void fake_cudart_reset(void)                        zero counters, drop pending failures, stream not busy,
 *                                                       one device
 *   void fake_cudart_fail_next(const char *function, int result)
 *                                                       the next call of function returns result
 *   void fake_cudart_fail_nth(const char *function, long n, int result)
 *                                                       the n-th call of function from now returns result (n <= 0:
 *                                                       cancels); one pending failure per function, the last set
 *   void fake_cudart_set_stream_busy(int busy)          1: cudaStreamQuery answers cudaErrorNotReady (600)
 *   long fake_cudart_live_allocations(void)             cudaMalloc/cudaMallocHost blocks not yet freed
 *   int fake_cudart_set_device_count(int count)         devices this process sees (1..64); 0, or -1 if refused
 *
 * Bridge for the fake libnccl (real NCCL carries its own CUDA runtime, so these calls are not counted as the
 * application's; the fake libnccl finds them with dlopen(RTLD_NOLOAD) of this file beside itself):
 *   int fake_cudart_bridge_launch(cudaStream_t, void (*fn)(void *), void *arg)
 *                                       runs fn(arg) in stream order on the stream's worker (cudaLaunchHostFunc)
 *   int fake_cudart_bridge_copy(cudaStream_t, void *dst, const void *src, size_t bytes)
 *                                       cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream)
 *   int fake_cudart_bridge_current_device(void)                        the calling thread's device
 *   int fake_cudart_bridge_bus_id(int device, char *out, int length)    cudaDeviceGetPCIBusId
 */
#define _POSIX_C_SOURCE 200809L

#include "cuda_runtime_api_subset.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_RUNTIME_VERSION 13000
#define DEVICE_ALIGNMENT 256
#define FAKE_TOTAL_MEMORY (16ULL << 30)
#define MAX_DEVICES 64
#define BLOCK_TABLE_BITS 16
#define BLOCK_TABLE_SIZE ((size_t)1 << BLOCK_TABLE_BITS)
#define STREAM_MAGIC 0x57ea3u
#define EVENT_MAGIC 0xe7e47u
#define LEGACY_STREAM ((cudaStream_t)0x1)
#define PER_THREAD_STREAM ((cudaStream_t)0x2)
/* Not in our header subset, but what CUDA answers for a bad or destroyed handle. */
#define ERROR_INVALID_RESOURCE_HANDLE 400

typedef void (*cudaHostFn_t)(void *userData);

static const char *const FUNCTIONS[] = {
    "cudaGetDeviceCount", "cudaSetDevice", "cudaGetDevice", "cudaDeviceSynchronize", "cudaDeviceGetPCIBusId",
    "cudaMemGetInfo", "cudaRuntimeGetVersion", "cudaDriverGetVersion", "cudaGetLastError", "cudaMalloc",
    "cudaFree", "cudaMallocHost", "cudaFreeHost", "cudaHostRegister", "cudaHostUnregister",
    "cudaPointerGetAttributes", "cudaMemcpy", "cudaMemcpyAsync", "cudaMemcpyBatchAsync", "cudaMemset",
    "cudaMemsetAsync", "cudaStreamCreateWithFlags", "cudaStreamDestroy", "cudaStreamSynchronize",
    "cudaStreamQuery", "cudaStreamWaitEvent", "cudaEventCreate", "cudaEventCreateWithFlags", "cudaEventRecord",
    "cudaEventQuery", "cudaEventSynchronize", "cudaEventElapsedTime", "cudaEventDestroy", "cudaGetErrorName",
    "cudaGetErrorString",
};
#define FUNCTION_COUNT ((int)(sizeof FUNCTIONS / sizeof FUNCTIONS[0]))

enum block_kind { DEVICE_BLOCK, PINNED_BLOCK, REGISTERED_BLOCK };

struct block {
  void *ptr;
  size_t size;
  enum block_kind kind;
  int device;
  struct block *next;
};

enum work_kind { WORK_COPY, WORK_MEMSET, WORK_BATCH, WORK_RECORD, WORK_WAIT, WORK_HOST };

/* One item of a stream's queue. */
struct work {
  enum work_kind kind;
  void *dst;                        /* copy, memset */
  const void *src;
  size_t size;
  int value;
  size_t count;                     /* batch: owned copies of the caller's arrays */
  void **dsts;
  const void **srcs;
  size_t *sizes;
  struct CUevent_st *event;         /* record, wait: holds a reference */
  unsigned long long generation;
  cudaHostFn_t fn;                  /* host */
  void *user_data;
  unsigned long long ticket;
  struct work *next;
};

struct CUstream_st {
  unsigned magic;
  unsigned flags;
  int device;
  struct work *head, *tail;
  int running;                      /* an item is executing, inline on a caller or on the worker */
  unsigned long long submitted;     /* tickets handed out, in order */
  unsigned long long completed;     /* the last ticket done (items complete in ticket order) */
  int has_worker;
  pthread_cond_t wake;              /* signalled when the worker may have something to do */
  int destroyed;                    /* cudaStreamDestroy came: the structure is freed once drained */
  struct CUstream_st *next;
};

struct CUevent_st {
  unsigned magic;
  unsigned flags;
  unsigned long long recorded;      /* records issued */
  unsigned long long completed;     /* the latest record its stream reached */
  struct timespec when;             /* when that record completed */
  int refs;                         /* queued records and waits */
  int destroyed;
  struct CUevent_st *next;
};

/* One lock guards blocks, streams, events and queues; `completed` is broadcast whenever work completes (each stream's
 * worker waits for work on its own `wake`, so a completion does not wake every idle worker). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t completed = PTHREAD_COND_INITIALIZER;
static atomic_long call_counts[FUNCTION_COUNT];
static int forced_pending[FUNCTION_COUNT];
static int forced_result[FUNCTION_COUNT];
static atomic_int stream_busy;
static atomic_int last_error;
static atomic_int device_count = 1;
static _Thread_local int current_device;
static struct block *block_table[BLOCK_TABLE_SIZE];
static long live_blocks;                 /* device and pinned blocks */
static size_t device_bytes[MAX_DEVICES]; /* bytes of device blocks per device */
static struct CUstream_st *streams;
static struct CUevent_st *events;
/* The legacy default stream (also standing in for the per-thread one); never destroyed. */
static struct CUstream_st legacy_stream = {.magic = STREAM_MAGIC, .wake = PTHREAD_COND_INITIALIZER};

static int function_index(const char *function) {
  if (function == NULL) return -1;
  for (int i = 0; i < FUNCTION_COUNT; i++) {
    if (strcmp(FUNCTIONS[i], function) == 0) return i;
  }
  return -1;
}

static int enter(const char *function, cudaError_t *forced) {
  int index = function_index(function);
  if (index < 0) return 0;
  atomic_fetch_add(&call_counts[index], 1);
  pthread_mutex_lock(&lock);
  /* forced_pending counts down the calls left before the forced one (fail_next: 1, fail_nth: n) */
  int take = forced_pending[index] > 0 && --forced_pending[index] == 0;
  if (take) {
    *forced = (cudaError_t)forced_result[index];
  }
  pthread_mutex_unlock(&lock);
  if (take) atomic_store(&last_error, (int)*forced);
  return take;
}

#define ENTER()                                     \
  do {                                              \
    cudaError_t forced_;                            \
    if (enter(__func__, &forced_)) return forced_;  \
  } while (0)

/* Records a failure for cudaGetLastError and returns it. */
static cudaError_t fail(int error) {
  atomic_store(&last_error, error);
  return (cudaError_t)error;
}

/* ---- test controls ---- */

long fake_cudart_call_count(const char *function) {
  int index = function_index(function);
  return index < 0 ? -1 : atomic_load(&call_counts[index]);
}

void fake_cudart_reset(void) {
  pthread_mutex_lock(&lock);
  for (int i = 0; i < FUNCTION_COUNT; i++) {
    atomic_store(&call_counts[i], 0);
    forced_pending[i] = 0;
  }
  pthread_mutex_unlock(&lock);
  atomic_store(&stream_busy, 0);
  atomic_store(&last_error, cudaSuccess);
  atomic_store(&device_count, 1);
}

void fake_cudart_fail_next(const char *function, int result) {
  int index = function_index(function);
  if (index < 0) return;
  pthread_mutex_lock(&lock);
  forced_pending[index] = 1;
  forced_result[index] = result;
  pthread_mutex_unlock(&lock);
}

void fake_cudart_fail_nth(const char *function, long n, int result) {
  int index = function_index(function);
  if (index < 0) return;
  pthread_mutex_lock(&lock);
  forced_pending[index] = n > 0 && n <= INT_MAX ? (int)n : 0;
  forced_result[index] = result;
  pthread_mutex_unlock(&lock);
}

void fake_cudart_set_stream_busy(int busy) { atomic_store(&stream_busy, busy); }

long fake_cudart_live_allocations(void) {
  pthread_mutex_lock(&lock);
  long live = live_blocks;
  pthread_mutex_unlock(&lock);
  return live;
}

int fake_cudart_set_device_count(int count) {
  if (count < 1 || count > MAX_DEVICES) return -1;
  atomic_store(&device_count, count);
  return 0;
}

/* ---- helpers ---- */

/* Blocks by start address: a chained hash table, so that tens of thousands of tensors allocate and free in O(1). */
static size_t block_slot(const void *ptr) {
  return (size_t)((((uintptr_t)ptr >> 4) * 0x9e3779b97f4a7c15ULL) >> (64 - BLOCK_TABLE_BITS));
}

static cudaError_t add_block(void *ptr, size_t size, enum block_kind kind) {
  struct block *b = malloc(sizeof *b);
  if (b == NULL) return fail(cudaErrorMemoryAllocation);
  b->ptr = ptr;
  b->size = size;
  b->kind = kind;
  b->device = current_device;
  pthread_mutex_lock(&lock);
  size_t slot = block_slot(ptr);
  b->next = block_table[slot];
  block_table[slot] = b;
  if (kind != REGISTERED_BLOCK) live_blocks++;
  if (kind == DEVICE_BLOCK) device_bytes[b->device] += size;
  pthread_mutex_unlock(&lock);
  return cudaSuccess;
}

/* Unlinks the block starting at ptr of that kind; returns 1 when there was one. */
static int remove_block(void *ptr, enum block_kind kind) {
  pthread_mutex_lock(&lock);
  struct block **link = &block_table[block_slot(ptr)];
  while (*link != NULL && !((*link)->ptr == ptr && (*link)->kind == kind)) link = &(*link)->next;
  struct block *found = *link;
  if (found != NULL) {
    *link = found->next;
    if (kind != REGISTERED_BLOCK) live_blocks--;
    if (kind == DEVICE_BLOCK) device_bytes[found->device] -= found->size;
  }
  pthread_mutex_unlock(&lock);
  free(found);
  return found != NULL;
}

/* The block containing ptr (kind and device copied out), or 0 when there is none; scans every block. */
static int find_block(const void *ptr, enum block_kind *kind, int *device) {
  int found = 0;
  pthread_mutex_lock(&lock);
  for (size_t slot = 0; slot < BLOCK_TABLE_SIZE && !found; slot++) {
    for (struct block *b = block_table[slot]; b != NULL; b = b->next) {
      uintptr_t start = (uintptr_t)b->ptr;
      if ((uintptr_t)ptr >= start && (uintptr_t)ptr < start + (b->size == 0 ? 1 : b->size)) {
        *kind = b->kind;
        *device = b->device;
        found = 1;
        break;
      }
    }
  }
  pthread_mutex_unlock(&lock);
  return found;
}

static size_t device_bytes_in_use(int device) {
  pthread_mutex_lock(&lock);
  size_t used = device_bytes[device];
  pthread_mutex_unlock(&lock);
  return used;
}

static cudaError_t check_copy(void *dst, const void *src, size_t count) {
  if (count > 0 && (dst == NULL || src == NULL)) return fail(cudaErrorInvalidValue);
  return cudaSuccess;
}

static int valid_copy_kind(enum cudaMemcpyKind kind) {
  return (int)kind >= cudaMemcpyHostToHost && (int)kind <= cudaMemcpyDefault;
}

#define CHECK(expression)                         \
  do {                                            \
    cudaError_t checked_ = (expression);          \
    if (checked_ != cudaSuccess) return checked_; \
  } while (0)

/* ---- streams and events: the ordering core (callers hold the lock unless said otherwise) ---- */

/* The stream behind a handle, or NULL when it is not a live stream; the default streams are the legacy one. */
static struct CUstream_st *stream_locked(cudaStream_t stream) {
  if (stream == NULL || stream == LEGACY_STREAM || stream == PER_THREAD_STREAM) return &legacy_stream;
  for (struct CUstream_st *s = streams; s != NULL; s = s->next) {
    if (s == stream) return s->magic == STREAM_MAGIC ? s : NULL;
  }
  return NULL;
}

static struct CUevent_st *event_locked(cudaEvent_t event) {
  for (struct CUevent_st *e = events; e != NULL; e = e->next) {
    if (e == event) return e->magic == EVENT_MAGIC ? e : NULL;
  }
  return NULL;
}

static int stream_idle_locked(const struct CUstream_st *s) { return s->head == NULL && !s->running; }

static void release_event_locked(struct CUevent_st *e) {
  if (--e->refs == 0 && e->destroyed) free(e);
}

static void complete_record_locked(struct CUevent_st *e, unsigned long long generation) {
  if (generation > e->completed) {
    e->completed = generation;
    clock_gettime(CLOCK_MONOTONIC, &e->when);
  }
}

static void free_work(struct work *w) {
  if (w->kind == WORK_BATCH) {
    free(w->dsts);
    free((void *)w->srcs);
    free(w->sizes);
  }
  free(w);
}

/* Runs a copy, memset, batch or host function; without the lock (it may take long). */
static void execute(const struct work *w) {
  switch (w->kind) {
    case WORK_COPY:
      if (w->size > 0) memmove(w->dst, w->src, w->size);
      break;
    case WORK_MEMSET:
      if (w->size > 0) memset(w->dst, w->value, w->size);
      break;
    case WORK_BATCH:
      for (size_t i = 0; i < w->count; i++) {
        if (w->sizes[i] > 0) memmove(w->dsts[i], w->srcs[i], w->sizes[i]);
      }
      break;
    case WORK_HOST:
      w->fn(w->user_data);
      break;
    case WORK_RECORD:
    case WORK_WAIT:
      break; /* handled under the lock */
  }
}

/* A destroyed stream is freed once drained: by its worker if it has one, else by cudaStreamDestroy or the caller
 * whose inline work ran last. */
static int free_if_drained_locked(struct CUstream_st *s, int by_worker) {
  if (s->destroyed && stream_idle_locked(s) && s->has_worker == by_worker) {
    pthread_cond_destroy(&s->wake);
    free(s);
    return 1;
  }
  return 0;
}

/* Runs one item of s, which the caller marked running, and completes it; the lock is released only while a copy or
 * host function runs. */
static void run_locked(struct CUstream_st *s, struct work *w) {
  if (w->kind == WORK_WAIT) {
    while (w->event->completed < w->generation) pthread_cond_wait(&completed, &lock);
  } else if (w->kind == WORK_RECORD) {
    complete_record_locked(w->event, w->generation);
  } else {
    pthread_mutex_unlock(&lock);
    execute(w);
    pthread_mutex_lock(&lock);
  }
  if (w->event != NULL) release_event_locked(w->event);
  s->running = 0;
  s->completed = w->ticket;
  pthread_cond_broadcast(&completed);
  pthread_cond_signal(&s->wake); /* work queued behind an item run inline may start */
  free_work(w);
}

static void *stream_worker(void *arg) {
  struct CUstream_st *s = arg;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (s->head == NULL || s->running) {
      if (free_if_drained_locked(s, 1)) {
        pthread_mutex_unlock(&lock);
        return NULL;
      }
      pthread_cond_wait(&s->wake, &lock);
    }
    struct work *w = s->head;
    s->head = w->next;
    if (s->head == NULL) s->tail = NULL;
    s->running = 1;
    run_locked(s, w);
  }
}

/*
 * Puts w on s in order and returns its ticket. Work that needs no waiting on an idle stream is done at once, on
 * this thread (the lock is released while a copy runs); anything else waits in the queue for the stream's worker.
 * Host functions always go to the worker. Takes ownership of w.
 */
static cudaError_t submit_locked(struct CUstream_st *s, struct work *w, unsigned long long *ticket) {
  w->ticket = ++s->submitted;
  if (ticket != NULL) *ticket = w->ticket;
  int at_once = stream_idle_locked(s) && w->kind != WORK_HOST &&
                (w->kind != WORK_WAIT || w->event->completed >= w->generation);
  if (at_once) {
    s->running = 1;
    run_locked(s, w);
    free_if_drained_locked(s, 0);
    return cudaSuccess;
  }
  if (!s->has_worker) {
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    int started = pthread_create(&thread, &attributes, stream_worker, s);
    pthread_attr_destroy(&attributes);
    if (started != 0) {
      s->completed = w->ticket; /* nothing will run it: report the failure, keep the stream consistent */
      if (w->event != NULL) release_event_locked(w->event);
      free_work(w);
      return fail(cudaErrorMemoryAllocation);
    }
    s->has_worker = 1;
  }
  w->next = NULL;
  if (s->tail == NULL) {
    s->head = w;
  } else {
    s->tail->next = w;
  }
  s->tail = w;
  pthread_cond_signal(&s->wake);
  return cudaSuccess;
}

static struct work *new_work(enum work_kind kind) {
  struct work *w = calloc(1, sizeof *w);
  if (w != NULL) w->kind = kind;
  return w;
}

/* Submits w on the stream behind handle; fails when the handle is not a live stream. */
static cudaError_t submit(cudaStream_t handle, struct work *w, unsigned long long *ticket) {
  if (w == NULL) return fail(cudaErrorMemoryAllocation);
  pthread_mutex_lock(&lock);
  struct CUstream_st *s = stream_locked(handle);
  cudaError_t result = s == NULL ? fail(ERROR_INVALID_RESOURCE_HANDLE) : submit_locked(s, w, ticket);
  if (s == NULL) free_work(w);
  pthread_mutex_unlock(&lock);
  return result;
}

/* Runs w on the legacy stream and returns when it is done (cudaMemcpy, cudaMemset). */
static cudaError_t run_synchronously(struct work *w) {
  unsigned long long ticket = 0;
  CHECK(submit(LEGACY_STREAM, w, &ticket));
  pthread_mutex_lock(&lock);
  while (legacy_stream.completed < ticket) pthread_cond_wait(&completed, &lock);
  pthread_mutex_unlock(&lock);
  return cudaSuccess;
}

static struct work *copy_work(void *dst, const void *src, size_t size) {
  struct work *w = new_work(WORK_COPY);
  if (w != NULL) {
    w->dst = dst;
    w->src = src;
    w->size = size;
  }
  return w;
}

static struct work *memset_work(void *dst, int value, size_t size) {
  struct work *w = new_work(WORK_MEMSET);
  if (w != NULL) {
    w->dst = dst;
    w->value = value;
    w->size = size;
  }
  return w;
}

/* ---- device ---- */

cudaError_t cudaGetDeviceCount(int *count) {
  ENTER();
  if (count == NULL) return fail(cudaErrorInvalidValue);
  *count = atomic_load(&device_count);
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  ENTER();
  if (device < 0 || device >= atomic_load(&device_count)) return fail(cudaErrorInvalidDevice);
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device) {
  ENTER();
  if (device == NULL) return fail(cudaErrorInvalidValue);
  *device = current_device;
  return cudaSuccess;
}

/* Waits until every stream is idle. */
cudaError_t cudaDeviceSynchronize(void) {
  ENTER();
  pthread_mutex_lock(&lock);
  for (;;) {
    int busy = !stream_idle_locked(&legacy_stream);
    for (struct CUstream_st *s = streams; s != NULL && !busy; s = s->next) busy = !stream_idle_locked(s);
    if (!busy) break;
    pthread_cond_wait(&completed, &lock);
  }
  pthread_mutex_unlock(&lock);
  return cudaSuccess;
}

static cudaError_t bus_id(int device, char *out, int length) {
  if (out == NULL || length < 13) return fail(cudaErrorInvalidValue);
  if (device < 0 || device >= atomic_load(&device_count)) return fail(cudaErrorInvalidDevice);
  snprintf(out, (size_t)length, "0000:%02x:00.0", (0xfa + device) & 0xff);
  return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char *pciBusId, int len, int device) {
  ENTER();
  return bus_id(device, pciBusId, len);
}

cudaError_t cudaMemGetInfo(size_t *free, size_t *total) {
  ENTER();
  if (free == NULL || total == NULL) return fail(cudaErrorInvalidValue);
  *total = FAKE_TOTAL_MEMORY;
  *free = FAKE_TOTAL_MEMORY - device_bytes_in_use(current_device);
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *runtimeVersion) {
  ENTER();
  if (runtimeVersion == NULL) return fail(cudaErrorInvalidValue);
  *runtimeVersion = FAKE_RUNTIME_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *driverVersion) {
  ENTER();
  if (driverVersion == NULL) return fail(cudaErrorInvalidValue);
  *driverVersion = FAKE_RUNTIME_VERSION;
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  ENTER();
  return (cudaError_t)atomic_exchange(&last_error, cudaSuccess);
}

/* ---- memory ---- */

/* Host memory posing as device or pinned memory, aligned like cudaMalloc's, and tracked by kind. */
static cudaError_t allocate_block(void **out, size_t size, enum block_kind kind) {
  if (size > FAKE_TOTAL_MEMORY) return fail(cudaErrorMemoryAllocation);
  size_t rounded = size == 0 ? DEVICE_ALIGNMENT
                             : (size + DEVICE_ALIGNMENT - 1) / DEVICE_ALIGNMENT * DEVICE_ALIGNMENT;
  void *memory = aligned_alloc(DEVICE_ALIGNMENT, rounded);
  if (memory == NULL) return fail(cudaErrorMemoryAllocation);
  cudaError_t added = add_block(memory, size, kind);
  if (added != cudaSuccess) {
    free(memory);
    return added;
  }
  *out = memory;
  return cudaSuccess;
}

static cudaError_t free_block(void *ptr, enum block_kind kind) {
  if (ptr == NULL) return cudaSuccess;
  if (!remove_block(ptr, kind)) return fail(cudaErrorInvalidValue);
  free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void **devPtr, size_t size) {
  ENTER();
  if (devPtr == NULL) return fail(cudaErrorInvalidValue);
  if (size == 0) {
    *devPtr = NULL;
    return cudaSuccess;
  }
  return allocate_block(devPtr, size, DEVICE_BLOCK);
}

cudaError_t cudaFree(void *devPtr) {
  ENTER();
  return free_block(devPtr, DEVICE_BLOCK);
}

cudaError_t cudaMallocHost(void **ptr, size_t size) {
  ENTER();
  if (ptr == NULL) return fail(cudaErrorInvalidValue);
  return allocate_block(ptr, size, PINNED_BLOCK);
}

cudaError_t cudaFreeHost(void *ptr) {
  ENTER();
  return free_block(ptr, PINNED_BLOCK);
}

cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags) {
  ENTER();
  if (ptr == NULL || size == 0 || flags > 0xf) return fail(cudaErrorInvalidValue);
  return add_block(ptr, size, REGISTERED_BLOCK);
}

cudaError_t cudaHostUnregister(void *ptr) {
  ENTER();
  return remove_block(ptr, REGISTERED_BLOCK) ? cudaSuccess : fail(cudaErrorInvalidValue);
}

cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attributes, const void *ptr) {
  ENTER();
  if (attributes == NULL) return fail(cudaErrorInvalidValue);
  memset(attributes, 0, sizeof *attributes);
  enum block_kind kind;
  int device;
  if (!find_block(ptr, &kind, &device)) {
    attributes->type = cudaMemoryTypeUnregistered;
    attributes->device = -2;
  } else if (kind == DEVICE_BLOCK) {
    attributes->type = cudaMemoryTypeDevice;
    attributes->device = device;
    attributes->devicePointer = (void *)ptr;
  } else {
    attributes->type = cudaMemoryTypeHost;
    attributes->device = device;
    attributes->devicePointer = (void *)ptr;
    attributes->hostPointer = (void *)ptr;
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind) {
  ENTER();
  if (!valid_copy_kind(kind)) return fail(cudaErrorInvalidValue);
  CHECK(check_copy(dst, src, count));
  return run_synchronously(copy_work(dst, src, count));
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
  ENTER();
  if (!valid_copy_kind(kind)) return fail(cudaErrorInvalidValue);
  CHECK(check_copy(dst, src, count));
  return submit(stream, copy_work(dst, src, count), NULL);
}

cudaError_t cudaMemcpyBatchAsync(void *const *dsts, const void *const *srcs, const size_t *sizes, size_t count,
                                 struct cudaMemcpyAttributes *attrs, size_t *attrsIdxs, size_t numAttrs,
                                 cudaStream_t stream) {
  ENTER();
  /* CUDA refuses batches on the legacy default stream. */
  if (stream == NULL || stream == LEGACY_STREAM) return fail(cudaErrorInvalidValue);
  if (count == 0 || dsts == NULL || srcs == NULL || sizes == NULL || attrs == NULL || attrsIdxs == NULL) {
    return fail(cudaErrorInvalidValue);
  }
  if (numAttrs < 1 || numAttrs > count || attrsIdxs[0] != 0) return fail(cudaErrorInvalidValue);
  for (size_t i = 0; i < numAttrs; i++) {
    if ((i > 0 && attrsIdxs[i] <= attrsIdxs[i - 1]) || attrsIdxs[i] >= count) return fail(cudaErrorInvalidValue);
    if (attrs[i].srcAccessOrder < cudaMemcpySrcAccessOrderStream || attrs[i].srcAccessOrder > cudaMemcpySrcAccessOrderAny) {
      return fail(cudaErrorInvalidValue);
    }
  }
  for (size_t i = 0; i < count; i++) CHECK(check_copy(dsts[i], srcs[i], sizes[i]));
  /* The queue may run the batch later: it keeps copies of the arrays, which the caller may reuse at once. */
  struct work *w = new_work(WORK_BATCH);
  if (w == NULL) return fail(cudaErrorMemoryAllocation);
  w->count = count;
  w->dsts = malloc(count * sizeof *w->dsts);
  w->srcs = malloc(count * sizeof *w->srcs);
  w->sizes = malloc(count * sizeof *w->sizes);
  if (w->dsts == NULL || w->srcs == NULL || w->sizes == NULL) {
    free_work(w);
    return fail(cudaErrorMemoryAllocation);
  }
  memcpy(w->dsts, dsts, count * sizeof *w->dsts);
  memcpy((void *)w->srcs, srcs, count * sizeof *w->srcs);
  memcpy(w->sizes, sizes, count * sizeof *w->sizes);
  return submit(stream, w, NULL);
}

cudaError_t cudaMemset(void *devPtr, int value, size_t count) {
  ENTER();
  if (count > 0 && devPtr == NULL) return fail(cudaErrorInvalidValue);
  return run_synchronously(memset_work(devPtr, value, count));
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream) {
  ENTER();
  if (count > 0 && devPtr == NULL) return fail(cudaErrorInvalidValue);
  return submit(stream, memset_work(devPtr, value, count), NULL);
}

/* ---- streams ---- */

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
  ENTER();
  if (stream == NULL || flags > cudaStreamNonBlocking) return fail(cudaErrorInvalidValue);
  struct CUstream_st *s = calloc(1, sizeof *s);
  if (s == NULL) return fail(cudaErrorMemoryAllocation);
  s->magic = STREAM_MAGIC;
  s->flags = flags;
  s->device = current_device;
  pthread_cond_init(&s->wake, NULL);
  pthread_mutex_lock(&lock);
  s->next = streams;
  streams = s;
  pthread_mutex_unlock(&lock);
  *stream = s;
  return cudaSuccess;
}

/* As CUDA: returns at once; pending work still runs, and the stream is released when it is done. */
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  ENTER();
  pthread_mutex_lock(&lock);
  struct CUstream_st **link = &streams;
  while (*link != NULL && *link != stream) link = &(*link)->next;
  struct CUstream_st *found = *link;
  if (found != NULL) {
    *link = found->next;
    found->magic = 0;
    found->destroyed = 1;
    if (!free_if_drained_locked(found, 0)) pthread_cond_signal(&found->wake); /* its worker frees it */
  }
  pthread_mutex_unlock(&lock);
  return found == NULL ? fail(ERROR_INVALID_RESOURCE_HANDLE) : cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  ENTER();
  pthread_mutex_lock(&lock);
  struct CUstream_st *s = stream_locked(stream);
  if (s != NULL) {
    unsigned long long target = s->submitted;
    while (s->completed < target) pthread_cond_wait(&completed, &lock);
  }
  pthread_mutex_unlock(&lock);
  return s == NULL ? fail(ERROR_INVALID_RESOURCE_HANDLE) : cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  ENTER();
  pthread_mutex_lock(&lock);
  struct CUstream_st *s = stream_locked(stream);
  int idle = s != NULL && stream_idle_locked(s);
  pthread_mutex_unlock(&lock);
  if (s == NULL) return fail(ERROR_INVALID_RESOURCE_HANDLE);
  return idle && !atomic_load(&stream_busy) ? cudaSuccess : cudaErrorNotReady;
}

/* A record of event on stream (its next generation), or a wait there for the event's latest record so far. */
static cudaError_t submit_event_work(cudaStream_t stream, cudaEvent_t event, enum work_kind kind) {
  struct work *w = new_work(kind);
  if (w == NULL) return fail(cudaErrorMemoryAllocation);
  pthread_mutex_lock(&lock);
  struct CUstream_st *s = stream_locked(stream);
  struct CUevent_st *e = event_locked(event);
  cudaError_t result = ERROR_INVALID_RESOURCE_HANDLE;
  if (s != NULL && e != NULL) {
    w->event = e;
    w->generation = kind == WORK_RECORD ? ++e->recorded : e->recorded;
    e->refs++;
    result = submit_locked(s, w, NULL);
  } else {
    free_work(w);
  }
  pthread_mutex_unlock(&lock);
  return result == cudaSuccess ? cudaSuccess : fail(result);
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  ENTER();
  if (flags > 1) return fail(cudaErrorInvalidValue);
  return submit_event_work(stream, event, WORK_WAIT);
}

/* ---- events ---- */

static cudaError_t create_event(cudaEvent_t *event, unsigned int flags) {
  if (event == NULL || flags > 0xf) return fail(cudaErrorInvalidValue);
  struct CUevent_st *e = calloc(1, sizeof *e);
  if (e == NULL) return fail(cudaErrorMemoryAllocation);
  e->magic = EVENT_MAGIC;
  e->flags = flags;
  pthread_mutex_lock(&lock);
  e->next = events;
  events = e;
  pthread_mutex_unlock(&lock);
  *event = e;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event) {
  ENTER();
  return create_event(event, cudaEventDefault);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags) {
  ENTER();
  return create_event(event, flags);
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  ENTER();
  return submit_event_work(stream, event, WORK_RECORD);
}

/* Success when the latest record completed (or the event was never recorded), else cudaErrorNotReady. */
cudaError_t cudaEventQuery(cudaEvent_t event) {
  ENTER();
  pthread_mutex_lock(&lock);
  struct CUevent_st *e = event_locked(event);
  int done = e != NULL && e->completed >= e->recorded;
  pthread_mutex_unlock(&lock);
  if (e == NULL) return fail(ERROR_INVALID_RESOURCE_HANDLE);
  return done ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  ENTER();
  pthread_mutex_lock(&lock);
  struct CUevent_st *e = event_locked(event);
  if (e != NULL) {
    unsigned long long target = e->recorded;
    e->refs++; /* kept alive even if another thread destroys it meanwhile */
    while (e->completed < target) pthread_cond_wait(&completed, &lock);
    release_event_locked(e);
  }
  pthread_mutex_unlock(&lock);
  return e == NULL ? fail(ERROR_INVALID_RESOURCE_HANDLE) : cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
  ENTER();
  if (ms == NULL) return fail(cudaErrorInvalidValue);
  int usable = 0;
  int done = 0;
  double millis = 0;
  pthread_mutex_lock(&lock);
  struct CUevent_st *first = event_locked(start);
  struct CUevent_st *last = event_locked(end);
  if (first != NULL && last != NULL) {
    usable = first->recorded > 0 && last->recorded > 0 && !(first->flags & cudaEventDisableTiming) &&
             !(last->flags & cudaEventDisableTiming);
    done = first->completed >= first->recorded && last->completed >= last->recorded;
    millis = (double)(last->when.tv_sec - first->when.tv_sec) * 1e3 +
             (double)(last->when.tv_nsec - first->when.tv_nsec) / 1e6;
  }
  pthread_mutex_unlock(&lock);
  if (!usable) return fail(ERROR_INVALID_RESOURCE_HANDLE);
  if (!done) return fail(cudaErrorNotReady);
  *ms = (float)millis;
  return cudaSuccess;
}

/* As CUDA: returns at once; records and waits still queued keep the event until they ran. */
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  ENTER();
  pthread_mutex_lock(&lock);
  struct CUevent_st **link = &events;
  while (*link != NULL && *link != event) link = &(*link)->next;
  struct CUevent_st *found = *link;
  if (found != NULL) {
    *link = found->next;
    found->magic = 0;
    found->destroyed = 1;
    if (found->refs == 0) free(found);
  }
  pthread_mutex_unlock(&lock);
  return found == NULL ? fail(ERROR_INVALID_RESOURCE_HANDLE) : cudaSuccess;
}

/* ---- the fake libnccl's bridge (not counted: real NCCL's own runtime calls are invisible here) ---- */

int fake_cudart_bridge_launch(cudaStream_t stream, cudaHostFn_t fn, void *arg) {
  if (fn == NULL) return fail(cudaErrorInvalidValue);
  struct work *w = new_work(WORK_HOST);
  if (w == NULL) return fail(cudaErrorMemoryAllocation);
  w->fn = fn;
  w->user_data = arg;
  return submit(stream, w, NULL);
}

int fake_cudart_bridge_copy(cudaStream_t stream, void *dst, const void *src, size_t bytes) {
  CHECK(check_copy(dst, src, bytes));
  return submit(stream, copy_work(dst, src, bytes), NULL);
}

int fake_cudart_bridge_current_device(void) { return current_device; }

int fake_cudart_bridge_bus_id(int device, char *out, int length) { return bus_id(device, out, length); }

/* ---- error texts (CUDA's own wording) ---- */

const char *cudaGetErrorName(cudaError_t error) {
  atomic_fetch_add(&call_counts[function_index(__func__)], 1);
  switch ((int)error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorCudartUnloading: return "cudaErrorCudartUnloading";
    case cudaErrorStubLibrary: return "cudaErrorStubLibrary";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorCallRequiresNewerDriver: return "cudaErrorCallRequiresNewerDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case ERROR_INVALID_RESOURCE_HANDLE: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorSystemDriverMismatch: return "cudaErrorSystemDriverMismatch";
    case cudaErrorUnknown: return "cudaErrorUnknown";
    default: return "unrecognized error code";
  }
}

const char *cudaGetErrorString(cudaError_t error) {
  atomic_fetch_add(&call_counts[function_index(__func__)], 1);
  switch ((int)error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorCudartUnloading: return "driver shutting down";
    case cudaErrorStubLibrary: return "CUDA driver is a stub library";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorCallRequiresNewerDriver: return "API call is not supported in the installed CUDA driver";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case ERROR_INVALID_RESOURCE_HANDLE: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorSystemDriverMismatch: return "system has unsupported display driver / cuda driver combination";
    case cudaErrorUnknown: return "unknown error";
    default: return "unrecognized error code";
  }
}
