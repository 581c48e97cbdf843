/*
 * Prints the ABI facts panama-nccl's bindings depend on, one "key=value" line each, as seen
 * through the headers this file is compiled against:
 *   -DABI_HEADERS_REAL  the vendor headers of the machine (<nccl.h>, <cuda_runtime_api.h>);
 *   otherwise           our own declarations (native-headers/nccl_api.h, cuda_runtime_api_subset.h).
 * Both builds print exactly the same keys, so the list below is the whole contract.
 * -DABI_WITH_NCCL / -DABI_WITH_CUDA select the halves (a machine may have only one real header).
 * A key whose field or constant is missing from an older real header prints "absent".
 *
 * Given a file (the output of the build against our declarations) as its argument, the program
 * compares instead of printing: one line per key, MATCH, ABSENT (the real header is older:
 * reported, not failed), MISMATCH (the values differ, or a key is in one output only), "info."
 * keys printed as they are, then "TOTAL matched=N absent=N mismatched=N"; the exit status is 1
 * when anything mismatched, 2 when the file cannot be read. run.sh builds it both ways and runs
 * the real build on the output of ours.
 *
 * -DABI_CHECK_SIGNATURES turns the file into a compile-only check instead: every function we
 * declare is assigned to a pointer of the type we bind, so a prototype that differs in the
 * real header fails the compile (-Werror=incompatible-pointer-types).
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifdef ABI_HEADERS_REAL
#  ifdef ABI_WITH_NCCL
#    include <nccl.h>
#    define NCCL_AT_LEAST(code) (NCCL_VERSION_CODE >= (code))
#  endif
#  ifdef ABI_WITH_CUDA
#    include <cuda_runtime_api.h>
#    define CUDART_AT_LEAST(version) (CUDART_VERSION >= (version))
#  endif
#else
#  ifdef ABI_WITH_NCCL
#    include "nccl_api.h"
#    define NCCL_AT_LEAST(code) 1
#  endif
#  ifdef ABI_WITH_CUDA
#    include "cuda_runtime_api_subset.h"
#    define CUDART_AT_LEAST(version) 1
#  endif
#endif

#define PRINT_INT(key, value) emit_int((key), (long long) (value))
#define PRINT_ABSENT(key) emit((key), "absent")
#define ENUM_VALUE(prefix, name) PRINT_INT(prefix "." #name, name)
#define SIZE_OF(prefix, type) PRINT_INT(prefix "." #type ".sizeof", sizeof(type))
#define OFFSET_OF(prefix, type, field) PRINT_INT(prefix "." #type ".offsetof." #field, offsetof(type, field))
#define ABSENT_OFFSET(prefix, type, field) PRINT_ABSENT(prefix "." #type ".offsetof." #field)
#define STRUCT_SIZE_OF(prefix, tag) PRINT_INT(prefix "." #tag ".sizeof", sizeof(struct tag))
#define STRUCT_OFFSET_OF(prefix, tag, field) \
  PRINT_INT(prefix "." #tag ".offsetof." #field, offsetof(struct tag, field))

#ifndef ABI_CHECK_SIGNATURES

/* ---- printing, or comparing with the expected output (our declarations' values) ---- */

#define MAX_KEYS 512
static struct expected {
  char key[128];
  char value[64];
  int seen;
} expected[MAX_KEYS];
static int expected_count = -1; /* -1: print, no comparison */
static int matched, absent, mismatched;

static int load_expected(const char *path) {
  FILE *file = fopen(path, "r");
  if (file == NULL) return -1;
  char line[256];
  expected_count = 0;
  while (fgets(line, sizeof line, file) != NULL && expected_count < MAX_KEYS) {
    line[strcspn(line, "\n")] = '\0';
    char *equals = strchr(line, '=');
    if (equals == NULL || strncmp(line, "info.", 5) == 0) continue;
    *equals = '\0';
    struct expected *e = &expected[expected_count++];
    snprintf(e->key, sizeof e->key, "%.127s", line);
    snprintf(e->value, sizeof e->value, "%.63s", equals + 1);
  }
  fclose(file);
  return 0;
}

static void emit(const char *key, const char *value) {
  if (expected_count < 0 || strncmp(key, "info.", 5) == 0) {
    printf("%s=%s\n", key, value);
    return;
  }
  for (int i = 0; i < expected_count; i++) {
    struct expected *e = &expected[i];
    if (strcmp(e->key, key) != 0) continue;
    e->seen = 1;
    if (strcmp(e->value, value) == 0) {
      printf("MATCH %s=%s\n", key, value);
      matched++;
    } else if (strcmp(value, "absent") == 0) {
      printf("ABSENT %s (ours %s; the real header is older)\n", key, e->value);
      absent++;
    } else {
      printf("MISMATCH %s ours=%s real=%s\n", key, e->value, value);
      mismatched++;
    }
    return;
  }
  printf("MISMATCH %s ours=(no such key) real=%s\n", key, value);
  mismatched++;
}

static void emit_int(const char *key, long long value) {
  char text[32];
  snprintf(text, sizeof text, "%lld", value);
  emit(key, text);
}

/* The expected keys this build never printed; the totals; the exit status. */
static int finish_comparison(void) {
  for (int i = 0; i < expected_count; i++) {
    if (!expected[i].seen) {
      printf("MISMATCH %s ours=%s real=(no such key)\n", expected[i].key, expected[i].value);
      mismatched++;
    }
  }
  printf("TOTAL matched=%d absent=%d mismatched=%d\n", matched, absent, mismatched);
  return mismatched > 0;
}

#ifdef ABI_WITH_NCCL
static void print_nccl(void) {
#ifdef ABI_HEADERS_REAL
  PRINT_INT("info.nccl.header.NCCL_VERSION_CODE", NCCL_VERSION_CODE);
#endif
  SIZE_OF("nccl", ncclUniqueId);
  PRINT_INT("nccl.NCCL_UNIQUE_ID_BYTES", NCCL_UNIQUE_ID_BYTES);
  SIZE_OF("nccl", ncclResult_t);
  SIZE_OF("nccl", ncclDataType_t);
  SIZE_OF("nccl", ncclRedOp_t);

  ENUM_VALUE("nccl.ncclResult_t", ncclSuccess);
  ENUM_VALUE("nccl.ncclResult_t", ncclUnhandledCudaError);
  ENUM_VALUE("nccl.ncclResult_t", ncclSystemError);
  ENUM_VALUE("nccl.ncclResult_t", ncclInternalError);
  ENUM_VALUE("nccl.ncclResult_t", ncclInvalidArgument);
  ENUM_VALUE("nccl.ncclResult_t", ncclInvalidUsage);
#if NCCL_AT_LEAST(21300)
  ENUM_VALUE("nccl.ncclResult_t", ncclRemoteError);
#else
  PRINT_ABSENT("nccl.ncclResult_t.ncclRemoteError");
#endif
#if NCCL_AT_LEAST(21400)
  ENUM_VALUE("nccl.ncclResult_t", ncclInProgress);
#else
  PRINT_ABSENT("nccl.ncclResult_t.ncclInProgress");
#endif
#if NCCL_AT_LEAST(23003)
  ENUM_VALUE("nccl.ncclResult_t", ncclTimeout);
#else
  PRINT_ABSENT("nccl.ncclResult_t.ncclTimeout");
#endif

  ENUM_VALUE("nccl.ncclDataType_t", ncclInt8);
  ENUM_VALUE("nccl.ncclDataType_t", ncclUint8);
  ENUM_VALUE("nccl.ncclDataType_t", ncclInt32);
  ENUM_VALUE("nccl.ncclDataType_t", ncclUint32);
  ENUM_VALUE("nccl.ncclDataType_t", ncclInt64);
  ENUM_VALUE("nccl.ncclDataType_t", ncclUint64);
  ENUM_VALUE("nccl.ncclDataType_t", ncclFloat16);
  ENUM_VALUE("nccl.ncclDataType_t", ncclFloat32);
  ENUM_VALUE("nccl.ncclDataType_t", ncclFloat64);
#if NCCL_AT_LEAST(21000)
  ENUM_VALUE("nccl.ncclDataType_t", ncclBfloat16);
#else
  PRINT_ABSENT("nccl.ncclDataType_t.ncclBfloat16");
#endif
#if NCCL_AT_LEAST(22400)
  ENUM_VALUE("nccl.ncclDataType_t", ncclFloat8e4m3);
  ENUM_VALUE("nccl.ncclDataType_t", ncclFloat8e5m2);
#else
  PRINT_ABSENT("nccl.ncclDataType_t.ncclFloat8e4m3");
  PRINT_ABSENT("nccl.ncclDataType_t.ncclFloat8e5m2");
#endif

  ENUM_VALUE("nccl.ncclRedOp_t", ncclSum);
  ENUM_VALUE("nccl.ncclRedOp_t", ncclProd);
  ENUM_VALUE("nccl.ncclRedOp_t", ncclMax);
  ENUM_VALUE("nccl.ncclRedOp_t", ncclMin);
#if NCCL_AT_LEAST(21000)
  ENUM_VALUE("nccl.ncclRedOp_t", ncclAvg);
#else
  PRINT_ABSENT("nccl.ncclRedOp_t.ncclAvg");
#endif

  PRINT_INT("nccl.NCCL_CONFIG_UNDEF_INT", NCCL_CONFIG_UNDEF_INT);
#if defined(ABI_HEADERS_REAL) && defined(NCCL_API_MAGIC)
  PRINT_INT("nccl.config.magic", NCCL_API_MAGIC);
#elif defined(ABI_HEADERS_REAL)
  PRINT_ABSENT("nccl.config.magic");
#else
  PRINT_INT("nccl.config.magic", NCCL_CONFIG_MAGIC);
#endif

#if NCCL_AT_LEAST(21400)
#ifdef ABI_HEADERS_REAL
  PRINT_INT("info.nccl.header.ncclConfig_t.sizeof", sizeof(ncclConfig_t));
#endif
  /* Our layout is the 2.30 one; an older real header has a smaller struct (see nccl_api.h). */
#if NCCL_AT_LEAST(23000)
  SIZE_OF("nccl", ncclConfig_t);
#else
  PRINT_ABSENT("nccl.ncclConfig_t.sizeof");
#endif
  OFFSET_OF("nccl", ncclConfig_t, size);
  OFFSET_OF("nccl", ncclConfig_t, magic);
  OFFSET_OF("nccl", ncclConfig_t, version);
  OFFSET_OF("nccl", ncclConfig_t, blocking);
#if NCCL_AT_LEAST(21700)
  OFFSET_OF("nccl", ncclConfig_t, cgaClusterSize);
  OFFSET_OF("nccl", ncclConfig_t, minCTAs);
  OFFSET_OF("nccl", ncclConfig_t, maxCTAs);
  OFFSET_OF("nccl", ncclConfig_t, netName);
#else
  ABSENT_OFFSET("nccl", ncclConfig_t, cgaClusterSize);
  ABSENT_OFFSET("nccl", ncclConfig_t, minCTAs);
  ABSENT_OFFSET("nccl", ncclConfig_t, maxCTAs);
  ABSENT_OFFSET("nccl", ncclConfig_t, netName);
#endif
#if NCCL_AT_LEAST(21800)
  OFFSET_OF("nccl", ncclConfig_t, splitShare);
#else
  ABSENT_OFFSET("nccl", ncclConfig_t, splitShare);
#endif
#if NCCL_AT_LEAST(22600)
  OFFSET_OF("nccl", ncclConfig_t, trafficClass);
#else
  ABSENT_OFFSET("nccl", ncclConfig_t, trafficClass);
#endif
#if NCCL_AT_LEAST(22700)
  OFFSET_OF("nccl", ncclConfig_t, commName);
  OFFSET_OF("nccl", ncclConfig_t, collnetEnable);
  OFFSET_OF("nccl", ncclConfig_t, CTAPolicy);
  OFFSET_OF("nccl", ncclConfig_t, shrinkShare);
  OFFSET_OF("nccl", ncclConfig_t, nvlsCTAs);
#else
  ABSENT_OFFSET("nccl", ncclConfig_t, commName);
  ABSENT_OFFSET("nccl", ncclConfig_t, collnetEnable);
  ABSENT_OFFSET("nccl", ncclConfig_t, CTAPolicy);
  ABSENT_OFFSET("nccl", ncclConfig_t, shrinkShare);
  ABSENT_OFFSET("nccl", ncclConfig_t, nvlsCTAs);
#endif
#if NCCL_AT_LEAST(22800)
  OFFSET_OF("nccl", ncclConfig_t, nChannelsPerNetPeer);
  OFFSET_OF("nccl", ncclConfig_t, nvlinkCentricSched);
#else
  ABSENT_OFFSET("nccl", ncclConfig_t, nChannelsPerNetPeer);
  ABSENT_OFFSET("nccl", ncclConfig_t, nvlinkCentricSched);
#endif
#if NCCL_AT_LEAST(22900)
  OFFSET_OF("nccl", ncclConfig_t, graphUsageMode);
  OFFSET_OF("nccl", ncclConfig_t, numRmaCtx);
#else
  ABSENT_OFFSET("nccl", ncclConfig_t, graphUsageMode);
  ABSENT_OFFSET("nccl", ncclConfig_t, numRmaCtx);
#endif
#if NCCL_AT_LEAST(23000)
  OFFSET_OF("nccl", ncclConfig_t, maxP2pPeers);
  OFFSET_OF("nccl", ncclConfig_t, graphStreamOrdering);
#else
  ABSENT_OFFSET("nccl", ncclConfig_t, maxP2pPeers);
  ABSENT_OFFSET("nccl", ncclConfig_t, graphStreamOrdering);
#endif
#else
  PRINT_ABSENT("nccl.ncclConfig_t.sizeof");
#endif
}
#endif /* ABI_WITH_NCCL */

#ifdef ABI_WITH_CUDA
static void print_cuda(void) {
#ifdef ABI_HEADERS_REAL
  PRINT_INT("info.cuda.header.CUDART_VERSION", CUDART_VERSION);
#endif
  SIZE_OF("cuda", cudaError_t);
  ENUM_VALUE("cuda.cudaError_t", cudaSuccess);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorInvalidValue);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorMemoryAllocation);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorInitializationError);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorCudartUnloading);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorStubLibrary);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorInsufficientDriver);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorCallRequiresNewerDriver);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorNoDevice);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorInvalidDevice);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorNotReady);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorNotSupported);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorSystemDriverMismatch);
  ENUM_VALUE("cuda.cudaError_t", cudaErrorUnknown);

  ENUM_VALUE("cuda.cudaMemcpyKind", cudaMemcpyHostToHost);
  ENUM_VALUE("cuda.cudaMemcpyKind", cudaMemcpyHostToDevice);
  ENUM_VALUE("cuda.cudaMemcpyKind", cudaMemcpyDeviceToHost);
  ENUM_VALUE("cuda.cudaMemcpyKind", cudaMemcpyDeviceToDevice);
  ENUM_VALUE("cuda.cudaMemcpyKind", cudaMemcpyDefault);
  ENUM_VALUE("cuda.cudaMemoryType", cudaMemoryTypeUnregistered);
  ENUM_VALUE("cuda.cudaMemoryType", cudaMemoryTypeHost);
  ENUM_VALUE("cuda.cudaMemoryType", cudaMemoryTypeDevice);
  ENUM_VALUE("cuda.cudaMemoryType", cudaMemoryTypeManaged);

  ENUM_VALUE("cuda.flags", cudaStreamDefault);
  ENUM_VALUE("cuda.flags", cudaStreamNonBlocking);
  ENUM_VALUE("cuda.flags", cudaEventDefault);
  ENUM_VALUE("cuda.flags", cudaEventBlockingSync);
  ENUM_VALUE("cuda.flags", cudaEventDisableTiming);
  ENUM_VALUE("cuda.flags", cudaHostRegisterDefault);
  ENUM_VALUE("cuda.flags", cudaHostRegisterPortable);
  ENUM_VALUE("cuda.flags", cudaHostRegisterMapped);

  STRUCT_SIZE_OF("cuda", cudaPointerAttributes);
  STRUCT_OFFSET_OF("cuda", cudaPointerAttributes, type);
  STRUCT_OFFSET_OF("cuda", cudaPointerAttributes, device);
  STRUCT_OFFSET_OF("cuda", cudaPointerAttributes, devicePointer);
  STRUCT_OFFSET_OF("cuda", cudaPointerAttributes, hostPointer);
#if CUDART_AT_LEAST(13000)
  STRUCT_OFFSET_OF("cuda", cudaPointerAttributes, reserved);
#else
  ABSENT_OFFSET("cuda", cudaPointerAttributes, reserved);
#endif

#if CUDART_AT_LEAST(12080)
  ENUM_VALUE("cuda.cudaMemcpySrcAccessOrder", cudaMemcpySrcAccessOrderInvalid);
  ENUM_VALUE("cuda.cudaMemcpySrcAccessOrder", cudaMemcpySrcAccessOrderStream);
  ENUM_VALUE("cuda.cudaMemcpySrcAccessOrder", cudaMemcpySrcAccessOrderDuringApiCall);
  ENUM_VALUE("cuda.cudaMemcpySrcAccessOrder", cudaMemcpySrcAccessOrderAny);
  ENUM_VALUE("cuda.cudaMemLocationType", cudaMemLocationTypeInvalid);
  ENUM_VALUE("cuda.cudaMemLocationType", cudaMemLocationTypeDevice);
  ENUM_VALUE("cuda.cudaMemLocationType", cudaMemLocationTypeHost);
  ENUM_VALUE("cuda.cudaMemLocationType", cudaMemLocationTypeHostNuma);
  ENUM_VALUE("cuda.cudaMemLocationType", cudaMemLocationTypeHostNumaCurrent);
  STRUCT_SIZE_OF("cuda", cudaMemLocation);
  STRUCT_OFFSET_OF("cuda", cudaMemLocation, type);
  STRUCT_OFFSET_OF("cuda", cudaMemLocation, id);
  STRUCT_SIZE_OF("cuda", cudaMemcpyAttributes);
  STRUCT_OFFSET_OF("cuda", cudaMemcpyAttributes, srcAccessOrder);
  STRUCT_OFFSET_OF("cuda", cudaMemcpyAttributes, srcLocHint);
  STRUCT_OFFSET_OF("cuda", cudaMemcpyAttributes, dstLocHint);
  STRUCT_OFFSET_OF("cuda", cudaMemcpyAttributes, flags);
#else
  PRINT_ABSENT("cuda.cudaMemcpyAttributes.sizeof");
#endif
}
#endif /* ABI_WITH_CUDA */

int main(int argc, char **argv) {
  if (argc > 2) {
    fprintf(stderr, "usage: %s [expected key=value file]\n", argv[0]);
    return 2;
  }
  if (argc == 2 && load_expected(argv[1]) != 0) {
    fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
    return 2;
  }
#ifdef ABI_WITH_NCCL
  print_nccl();
#endif
#ifdef ABI_WITH_CUDA
  print_cuda();
#endif
  return argc == 2 ? finish_comparison() : 0;
}

#else /* ABI_CHECK_SIGNATURES */

/* The function types panama-nccl binds; each must accept the header's own declaration. */
#define SIGNATURE(ret, name, params) ret (*const signature_##name) params = name;

#ifdef ABI_WITH_NCCL
SIGNATURE(ncclResult_t, ncclGetVersion, (int *))
SIGNATURE(ncclResult_t, ncclGetUniqueId, (ncclUniqueId *))
SIGNATURE(ncclResult_t, ncclCommInitRank, (ncclComm_t *, int, ncclUniqueId, int))
SIGNATURE(ncclResult_t, ncclCommInitAll, (ncclComm_t *, int, const int *))
SIGNATURE(ncclResult_t, ncclCommDestroy, (ncclComm_t))
SIGNATURE(ncclResult_t, ncclCommAbort, (ncclComm_t))
SIGNATURE(const char *, ncclGetErrorString, (ncclResult_t))
SIGNATURE(ncclResult_t, ncclCommGetAsyncError, (ncclComm_t, ncclResult_t *))
SIGNATURE(ncclResult_t, ncclCommCount, (const ncclComm_t, int *))
SIGNATURE(ncclResult_t, ncclCommCuDevice, (const ncclComm_t, int *))
SIGNATURE(ncclResult_t, ncclCommUserRank, (const ncclComm_t, int *))
SIGNATURE(ncclResult_t, ncclBroadcast,
          (const void *, void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t))
SIGNATURE(ncclResult_t, ncclBcast, (void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t))
SIGNATURE(ncclResult_t, ncclAllReduce,
          (const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t))
SIGNATURE(ncclResult_t, ncclReduce,
          (const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, int, ncclComm_t, cudaStream_t))
SIGNATURE(ncclResult_t, ncclAllGather,
          (const void *, void *, size_t, ncclDataType_t, ncclComm_t, cudaStream_t))
SIGNATURE(ncclResult_t, ncclReduceScatter,
          (const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t))
SIGNATURE(ncclResult_t, ncclSend, (const void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t))
SIGNATURE(ncclResult_t, ncclRecv, (void *, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t))
SIGNATURE(ncclResult_t, ncclGroupStart, (void))
SIGNATURE(ncclResult_t, ncclGroupEnd, (void))
#if NCCL_AT_LEAST(21300)
SIGNATURE(const char *, ncclGetLastError, (ncclComm_t))
#endif
#if NCCL_AT_LEAST(21400)
SIGNATURE(ncclResult_t, ncclCommInitRankConfig, (ncclComm_t *, int, ncclUniqueId, int, ncclConfig_t *))
SIGNATURE(ncclResult_t, ncclCommFinalize, (ncclComm_t))
#endif
#if NCCL_AT_LEAST(21800)
SIGNATURE(ncclResult_t, ncclCommSplit, (ncclComm_t, int, int, ncclComm_t *, ncclConfig_t *))
#endif
#if NCCL_AT_LEAST(21900)
SIGNATURE(ncclResult_t, ncclMemAlloc, (void **, size_t))
SIGNATURE(ncclResult_t, ncclMemFree, (void *))
SIGNATURE(ncclResult_t, ncclCommRegister, (const ncclComm_t, void *, size_t, void **))
SIGNATURE(ncclResult_t, ncclCommDeregister, (const ncclComm_t, void *))
#endif
#endif /* ABI_WITH_NCCL */

#ifdef ABI_WITH_CUDA
SIGNATURE(cudaError_t, cudaGetDeviceCount, (int *))
SIGNATURE(cudaError_t, cudaSetDevice, (int))
SIGNATURE(cudaError_t, cudaGetDevice, (int *))
SIGNATURE(cudaError_t, cudaDeviceSynchronize, (void))
SIGNATURE(cudaError_t, cudaDeviceGetPCIBusId, (char *, int, int))
SIGNATURE(cudaError_t, cudaMemGetInfo, (size_t *, size_t *))
SIGNATURE(cudaError_t, cudaRuntimeGetVersion, (int *))
SIGNATURE(cudaError_t, cudaDriverGetVersion, (int *))
SIGNATURE(cudaError_t, cudaGetLastError, (void))
SIGNATURE(cudaError_t, cudaMalloc, (void **, size_t))
SIGNATURE(cudaError_t, cudaFree, (void *))
SIGNATURE(cudaError_t, cudaMallocHost, (void **, size_t))
SIGNATURE(cudaError_t, cudaFreeHost, (void *))
SIGNATURE(cudaError_t, cudaHostRegister, (void *, size_t, unsigned int))
SIGNATURE(cudaError_t, cudaHostUnregister, (void *))
SIGNATURE(cudaError_t, cudaPointerGetAttributes, (struct cudaPointerAttributes *, const void *))
SIGNATURE(cudaError_t, cudaMemcpy, (void *, const void *, size_t, enum cudaMemcpyKind))
SIGNATURE(cudaError_t, cudaMemcpyAsync, (void *, const void *, size_t, enum cudaMemcpyKind, cudaStream_t))
#if CUDART_AT_LEAST(13000)
SIGNATURE(cudaError_t, cudaMemcpyBatchAsync,
          (void *const *, const void *const *, const size_t *, size_t, struct cudaMemcpyAttributes *,
           size_t *, size_t, cudaStream_t))
#endif
SIGNATURE(cudaError_t, cudaMemset, (void *, int, size_t))
SIGNATURE(cudaError_t, cudaMemsetAsync, (void *, int, size_t, cudaStream_t))
SIGNATURE(cudaError_t, cudaStreamCreateWithFlags, (cudaStream_t *, unsigned int))
SIGNATURE(cudaError_t, cudaStreamDestroy, (cudaStream_t))
SIGNATURE(cudaError_t, cudaStreamSynchronize, (cudaStream_t))
SIGNATURE(cudaError_t, cudaStreamQuery, (cudaStream_t))
SIGNATURE(cudaError_t, cudaStreamWaitEvent, (cudaStream_t, cudaEvent_t, unsigned int))
SIGNATURE(cudaError_t, cudaEventCreate, (cudaEvent_t *))
SIGNATURE(cudaError_t, cudaEventCreateWithFlags, (cudaEvent_t *, unsigned int))
SIGNATURE(cudaError_t, cudaEventRecord, (cudaEvent_t, cudaStream_t))
SIGNATURE(cudaError_t, cudaEventQuery, (cudaEvent_t))
SIGNATURE(cudaError_t, cudaEventSynchronize, (cudaEvent_t))
SIGNATURE(cudaError_t, cudaEventElapsedTime, (float *, cudaEvent_t, cudaEvent_t))
SIGNATURE(cudaError_t, cudaEventDestroy, (cudaEvent_t))
SIGNATURE(const char *, cudaGetErrorName, (cudaError_t))
SIGNATURE(const char *, cudaGetErrorString, (cudaError_t))
#endif /* ABI_WITH_CUDA */

#endif /* ABI_CHECK_SIGNATURES */
