/**
 * NCCL and the CUDA runtime through Panama FFM: devices, memory, streams, events and NCCL communicators.
 *
 * <h2>How the native libraries are found</h2>
 * {@link io.github.panamanccl.NativeLibraries} loads each library ({@code libcudart.so.13},
 * {@code libnccl.so.2}) once per JVM, on first use.
 *
 * <p>A path you name is authoritative: when the system property {@code panamanccl.cudart.path} /
 * {@code panamanccl.nccl.path} is set, or else the environment variable {@code PANAMANCCL_CUDART_PATH} /
 * {@code PANAMANCCL_NCCL_PATH}, that file is loaded or the library is reported unavailable with the reason;
 * no other copy is tried.
 *
 * <p>Without such a path, these places are tried in order and the first file that loads is taken:
 * <ol>
 *   <li>NVIDIA's pip wheels ({@code site-packages/nvidia/nccl/lib}, {@code nvidia/cuda_runtime/lib},
 *       {@code nvidia/cu13/lib}) in {@code $VIRTUAL_ENV}, then {@code $CONDA_PREFIX} and {@code $CONDA_PREFIX/lib},
 *       then {@code ~/.local/lib/python3.*}, {@code /usr/local/lib/python3.*} and {@code /usr/lib/python3};</li>
 *   <li>{@code $CUDA_HOME} and {@code $CUDA_PATH} ({@code lib64}, then {@code lib});</li>
 *   <li>{@code /usr/local/cuda/lib64};</li>
 *   <li>the distribution's multiarch directory, e.g. {@code /usr/lib/x86_64-linux-gnu};</li>
 *   <li>each {@code LD_LIBRARY_PATH} entry;</li>
 *   <li>the bare soname, resolved by the dynamic linker (ld.so.cache).</li>
 * </ol>
 * {@link io.github.panamanccl.NativeLibraries#status} reports the outcome without throwing; when a library is
 * missing, {@link io.github.panamanccl.LibraryUnavailableException} lists every place tried and why each failed.
 * Native access must be enabled ({@code --enable-native-access=io.github.panamanccl}, or
 * {@code ALL-UNNAMED} on the class path).
 *
 * <h2>Errors and resources</h2>
 * Failed calls throw {@link io.github.panamanccl.CudaException} or {@link io.github.panamanccl.NcclException}
 * with the call name, the numeric code, its symbolic name and the library's message. Every native resource is
 * {@link java.lang.AutoCloseable} with an idempotent close; device memory is never dereferenced from Java.
 */
package io.github.panamanccl;
