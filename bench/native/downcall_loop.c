/*
 * Baseline for the FFM downcall benchmark: the same trivial CUDA runtime call made from a C loop.
 *
 * Built twice by build.sh:
 *  - libdowncall_loop.so: downcall_loop_init(path) + downcall_loop_run(n), called once per JMH
 *    invocation so the FFM transition is amortised over n C calls (DowncallBenchmark.cLoop);
 *  - downcall_loop (executable): `downcall_loop <libcudart path> [calls] [runs]` prints ns/call,
 *    best of several runs, measured with clock_gettime.
 * The runtime is dlopen()ed from an explicit path so Java and C call the very same library.
 */
#define _POSIX_C_SOURCE 199309L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int (*runtime_get_version_fn)(int *version);

static runtime_get_version_fn runtime_get_version;

/* Returns 0 on success, -1 when the library or the symbol cannot be found. */
int downcall_loop_init(const char *cudart_path) {
    void *library = dlopen(cudart_path, RTLD_NOW | RTLD_GLOBAL);
    if (library == NULL) {
        return -1;
    }
    runtime_get_version = (runtime_get_version_fn) dlsym(library, "cudaRuntimeGetVersion");
    return runtime_get_version == NULL ? -1 : 0;
}

/* Calls cudaRuntimeGetVersion n times; returns the sum of results and versions so no call is elided. */
long long downcall_loop_run(long long n) {
    long long sum = 0;
    for (long long i = 0; i < n; i++) {
        int version = 0;
        sum += runtime_get_version(&version);
        sum += version;
    }
    return sum;
}

#ifdef DOWNCALL_LOOP_MAIN
static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec * 1e9 + (double) t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <libcudart path> [calls] [runs]\n", argv[0]);
        return 2;
    }
    long long calls = argc > 2 ? atoll(argv[2]) : 10000000LL;
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (calls <= 0 || runs <= 0) {
        fprintf(stderr, "calls and runs must be positive\n");
        return 2;
    }
    if (downcall_loop_init(argv[1]) != 0) {
        fprintf(stderr, "cannot load cudaRuntimeGetVersion from %s: %s\n", argv[1], dlerror());
        return 1;
    }
    downcall_loop_run(calls / 10); /* warm-up */
    double best = -1;
    long long checksum = 0;
    for (int r = 0; r < runs; r++) {
        double start = now_ns();
        checksum += downcall_loop_run(calls);
        double per_call = (now_ns() - start) / (double) calls;
        if (best < 0 || per_call < best) {
            best = per_call;
        }
    }
    printf("{\"function\":\"cudaRuntimeGetVersion\",\"calls\":%lld,\"runs\":%d,\"bestNsPerCall\":%.3f,\"checksum\":%lld}\n",
           calls, runs, best, checksum);
    return 0;
}
#endif
