/*
 * TEST FIXTURE, not the CUDA runtime: a fake libcudart.so.13 for the `fake-cuda` test execution on machines
 * without a GPU. Host memory poses as device memory (cudaMalloc is a 256-byte aligned malloc), copies are
 * memmove, streams and events are small heap objects (events record a timestamp), there is one device.
 * Arguments are checked as CUDA 13.0 does where the Java layer depends on it, notably
 * cudaMemcpyBatchAsync (rejects the legacy NULL stream, count 0, NULL arrays, numAttrs < 1,
 * attrsIdxs[0] != 0). Implements every function declared in native-headers/cuda_runtime_api_subset.h.
 *
 * Test controls (exported, bound by src/test/java/io/github/panamanccl/testing/FakeNative.java):
 *   long fake_cudart_call_count(const char *function)  calls since the last reset; -1 for an unknown name
 *   void fake_cudart_reset(void)                        zero counters, drop pending failures, stream not busy
 *   void fake_cudart_fail_next(const char *function, int result)
 *                                                       the next call of function returns result
 *   void fake_cudart_set_stream_busy(int busy)          1: cudaStreamQuery answers cudaErrorNotReady (600)
 *   long fake_cudart_live_allocations(void)             cudaMalloc/cudaMallocHost blocks not yet freed
 */
#define _POSIX_C_SOURCE 200809L

#include "cuda_runtime_api_subset.h"

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
#define STREAM_MAGIC 0x57ea3u
#define EVENT_MAGIC 0xe7e47u
#define LEGACY_STREAM ((cudaStream_t)0x1)
#define PER_THREAD_STREAM ((cudaStream_t)0x2)
/* Not in our header subset, but what CUDA answers for a bad or destroyed handle. */
#define ERROR_INVALID_RESOURCE_HANDLE 400

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
  struct block *next;
};

struct CUstream_st {
  unsigned magic;
  unsigned flags;
  struct CUstream_st *next;
};

struct CUevent_st {
  unsigned magic;
  unsigned flags;
  int recorded;
  struct timespec when;
  struct CUevent_st *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long call_counts[FUNCTION_COUNT];
static int forced_pending[FUNCTION_COUNT];
static int forced_result[FUNCTION_COUNT];
static atomic_int stream_busy;
static atomic_int last_error;
static struct block *blocks;
static struct CUstream_st *streams;
static struct CUevent_st *events;

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
  int take = forced_pending[index];
  if (take) {
    forced_pending[index] = 0;
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
}

void fake_cudart_fail_next(const char *function, int result) {
  int index = function_index(function);
  if (index < 0) return;
  pthread_mutex_lock(&lock);
  forced_pending[index] = 1;
  forced_result[index] = result;
  pthread_mutex_unlock(&lock);
}

void fake_cudart_set_stream_busy(int busy) { atomic_store(&stream_busy, busy); }

long fake_cudart_live_allocations(void) {
  long live = 0;
  pthread_mutex_lock(&lock);
  for (struct block *b = blocks; b != NULL; b = b->next) {
    if (b->kind != REGISTERED_BLOCK) live++;
  }
  pthread_mutex_unlock(&lock);
  return live;
}

/* ---- helpers ---- */

static cudaError_t add_block(void *ptr, size_t size, enum block_kind kind) {
  struct block *b = malloc(sizeof *b);
  if (b == NULL) return fail(cudaErrorMemoryAllocation);
  b->ptr = ptr;
  b->size = size;
  b->kind = kind;
  pthread_mutex_lock(&lock);
  b->next = blocks;
  blocks = b;
  pthread_mutex_unlock(&lock);
  return cudaSuccess;
}

/* Unlinks the block starting at ptr of that kind; returns 1 when there was one. */
static int remove_block(void *ptr, enum block_kind kind) {
  pthread_mutex_lock(&lock);
  struct block **link = &blocks;
  while (*link != NULL && !((*link)->ptr == ptr && (*link)->kind == kind)) link = &(*link)->next;
  struct block *found = *link;
  if (found != NULL) *link = found->next;
  pthread_mutex_unlock(&lock);
  free(found);
  return found != NULL;
}

/* The kind of the block containing ptr, or -1. */
static int block_kind_of(const void *ptr, int *device_block_start) {
  int kind = -1;
  pthread_mutex_lock(&lock);
  for (struct block *b = blocks; b != NULL; b = b->next) {
    uintptr_t start = (uintptr_t)b->ptr;
    if ((uintptr_t)ptr >= start && (uintptr_t)ptr < start + (b->size == 0 ? 1 : b->size)) {
      kind = (int)b->kind;
      if (device_block_start != NULL) *device_block_start = (uintptr_t)ptr == start;
      break;
    }
  }
  pthread_mutex_unlock(&lock);
  return kind;
}

static size_t device_bytes_in_use(void) {
  size_t used = 0;
  pthread_mutex_lock(&lock);
  for (struct block *b = blocks; b != NULL; b = b->next) {
    if (b->kind == DEVICE_BLOCK) used += b->size;
  }
  pthread_mutex_unlock(&lock);
  return used;
}

static int stream_is_live(cudaStream_t stream) {
  int live = 0;
  pthread_mutex_lock(&lock);
  for (struct CUstream_st *s = streams; s != NULL; s = s->next) {
    if (s == stream) {
      live = s->magic == STREAM_MAGIC;
      break;
    }
  }
  pthread_mutex_unlock(&lock);
  return live;
}

/* The legacy and per-thread default streams are always valid. */
static cudaError_t check_stream(cudaStream_t stream) {
  if (stream == NULL || stream == LEGACY_STREAM || stream == PER_THREAD_STREAM || stream_is_live(stream)) {
    return cudaSuccess;
  }
  return fail(ERROR_INVALID_RESOURCE_HANDLE);
}

/* The event if it is live, else NULL; the caller holds the lock (once it is released, another thread may
 * destroy the event). */
static struct CUevent_st *live_event_locked(cudaEvent_t event) {
  for (struct CUevent_st *e = events; e != NULL; e = e->next) {
    if (e == event) return e->magic == EVENT_MAGIC ? e : NULL;
  }
  return NULL;
}

static int event_is_live(cudaEvent_t event) {
  pthread_mutex_lock(&lock);
  int live = live_event_locked(event) != NULL;
  pthread_mutex_unlock(&lock);
  return live;
}

static cudaError_t check_copy(void *dst, const void *src, size_t count) {
  if (count > 0 && (dst == NULL || src == NULL)) return fail(cudaErrorInvalidValue);
  return cudaSuccess;
}

#define CHECK(expression)                         \
  do {                                            \
    cudaError_t checked_ = (expression);          \
    if (checked_ != cudaSuccess) return checked_; \
  } while (0)

/* ---- device ---- */

cudaError_t cudaGetDeviceCount(int *count) {
  ENTER();
  if (count == NULL) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  ENTER();
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int *device) {
  ENTER();
  if (device == NULL) return fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  ENTER();
  return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char *pciBusId, int len, int device) {
  ENTER();
  if (pciBusId == NULL || len < 13) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  snprintf(pciBusId, (size_t)len, "0000:fa:00.0");
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free, size_t *total) {
  ENTER();
  if (free == NULL || total == NULL) return fail(cudaErrorInvalidValue);
  *total = FAKE_TOTAL_MEMORY;
  *free = FAKE_TOTAL_MEMORY - device_bytes_in_use();
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
  int kind = block_kind_of(ptr, NULL);
  if (kind == DEVICE_BLOCK) {
    attributes->type = cudaMemoryTypeDevice;
    attributes->device = 0;
    attributes->devicePointer = (void *)ptr;
  } else if (kind == PINNED_BLOCK || kind == REGISTERED_BLOCK) {
    attributes->type = cudaMemoryTypeHost;
    attributes->device = 0;
    attributes->devicePointer = (void *)ptr;
    attributes->hostPointer = (void *)ptr;
  } else {
    attributes->type = cudaMemoryTypeUnregistered;
    attributes->device = -2;
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind) {
  ENTER();
  if ((int)kind < cudaMemcpyHostToHost || (int)kind > cudaMemcpyDefault) return fail(cudaErrorInvalidValue);
  CHECK(check_copy(dst, src, count));
  if (count > 0) memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
  ENTER();
  if ((int)kind < cudaMemcpyHostToHost || (int)kind > cudaMemcpyDefault) return fail(cudaErrorInvalidValue);
  CHECK(check_stream(stream));
  CHECK(check_copy(dst, src, count));
  if (count > 0) memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyBatchAsync(void *const *dsts, const void *const *srcs, const size_t *sizes, size_t count,
                                 struct cudaMemcpyAttributes *attrs, size_t *attrsIdxs, size_t numAttrs,
                                 cudaStream_t stream) {
  ENTER();
  /* CUDA refuses batches on the legacy default stream. */
  if (stream == NULL || stream == LEGACY_STREAM) return fail(cudaErrorInvalidValue);
  CHECK(check_stream(stream));
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
  for (size_t i = 0; i < count; i++) {
    if (sizes[i] > 0) memmove(dsts[i], srcs[i], sizes[i]);
  }
  return cudaSuccess;
}

cudaError_t cudaMemset(void *devPtr, int value, size_t count) {
  ENTER();
  if (count > 0 && devPtr == NULL) return fail(cudaErrorInvalidValue);
  if (count > 0) memset(devPtr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream) {
  ENTER();
  CHECK(check_stream(stream));
  if (count > 0 && devPtr == NULL) return fail(cudaErrorInvalidValue);
  if (count > 0) memset(devPtr, value, count);
  return cudaSuccess;
}

/* ---- streams ---- */

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags) {
  ENTER();
  if (stream == NULL || flags > cudaStreamNonBlocking) return fail(cudaErrorInvalidValue);
  struct CUstream_st *s = calloc(1, sizeof *s);
  if (s == NULL) return fail(cudaErrorMemoryAllocation);
  s->magic = STREAM_MAGIC;
  s->flags = flags;
  pthread_mutex_lock(&lock);
  s->next = streams;
  streams = s;
  pthread_mutex_unlock(&lock);
  *stream = s;
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  ENTER();
  pthread_mutex_lock(&lock);
  struct CUstream_st **link = &streams;
  while (*link != NULL && *link != stream) link = &(*link)->next;
  struct CUstream_st *found = *link;
  if (found != NULL) *link = found->next;
  pthread_mutex_unlock(&lock);
  if (found == NULL) return fail(ERROR_INVALID_RESOURCE_HANDLE);
  found->magic = 0;
  free(found);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  ENTER();
  return check_stream(stream);
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  ENTER();
  CHECK(check_stream(stream));
  return atomic_load(&stream_busy) ? cudaErrorNotReady : cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  ENTER();
  CHECK(check_stream(stream));
  if (!event_is_live(event)) return fail(ERROR_INVALID_RESOURCE_HANDLE);
  if (flags > 1) return fail(cudaErrorInvalidValue);
  return cudaSuccess;
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
  if (!event_is_live(event)) return fail(ERROR_INVALID_RESOURCE_HANDLE);
  CHECK(check_stream(stream));
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  pthread_mutex_lock(&lock);
  struct CUevent_st *e = live_event_locked(event);
  if (e != NULL) {
    e->when = now;
    e->recorded = 1;
  }
  pthread_mutex_unlock(&lock);
  return e == NULL ? fail(ERROR_INVALID_RESOURCE_HANDLE) : cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  ENTER();
  return event_is_live(event) ? cudaSuccess : fail(ERROR_INVALID_RESOURCE_HANDLE);
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  ENTER();
  return event_is_live(event) ? cudaSuccess : fail(ERROR_INVALID_RESOURCE_HANDLE);
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
  ENTER();
  if (ms == NULL) return fail(cudaErrorInvalidValue);
  int usable = 0;
  double millis = 0;
  pthread_mutex_lock(&lock);
  struct CUevent_st *first = live_event_locked(start);
  struct CUevent_st *last = live_event_locked(end);
  if (first != NULL && last != NULL) {
    usable = first->recorded && last->recorded && !(first->flags & cudaEventDisableTiming) &&
             !(last->flags & cudaEventDisableTiming);
    millis = (double)(last->when.tv_sec - first->when.tv_sec) * 1e3 +
             (double)(last->when.tv_nsec - first->when.tv_nsec) / 1e6;
  }
  pthread_mutex_unlock(&lock);
  if (!usable) return fail(ERROR_INVALID_RESOURCE_HANDLE);
  *ms = (float)millis;
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  ENTER();
  pthread_mutex_lock(&lock);
  struct CUevent_st **link = &events;
  while (*link != NULL && *link != event) link = &(*link)->next;
  struct CUevent_st *found = *link;
  if (found != NULL) *link = found->next;
  pthread_mutex_unlock(&lock);
  if (found == NULL) return fail(ERROR_INVALID_RESOURCE_HANDLE);
  found->magic = 0;
  free(found);
  return cudaSuccess;
}

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
