/**
 * Flattened tensor buckets: many named tensors packed into a few byte buckets, so a weight update takes one
 * collective per bucket instead of one per tensor.
 *
 * <ul>
 * <li>{@link io.github.panamanccl.bucket.TensorSpec} (name, {@link io.github.panamanccl.bucket.DType}, shape) and
 *     {@link io.github.panamanccl.bucket.Inventory} (an ordered list of them, from TSV).</li>
 * <li>{@link io.github.panamanccl.bucket.BucketPlanner} lays an inventory out under a byte cap, every tensor at an
 *     aligned offset, tensors above the cap split into pieces across consecutive buckets; the result,
 *     {@link io.github.panamanccl.bucket.BucketPlan}, is immutable, validated and fingerprinted (SHA-256).</li>
 * <li>{@link io.github.panamanccl.bucket.PlanCodec} (compact binary) and {@link io.github.panamanccl.bucket.PlanJson}
 *     (JSON with torch dtype names) carry a plan between processes; both decoders treat their input as untrusted
 *     and reject bad input with {@link io.github.panamanccl.bucket.PlanFormatException} naming field and value.</li>
 * <li>{@link io.github.panamanccl.bucket.HostBucketPacker} packs and scatters host buckets with bulk segment copies
 *     and no native call; padding is zeroed, so a bucket's bytes depend only on the plan and the tensors.</li>
 * <li>{@link io.github.panamanccl.bucket.TensorView}s slice a tensor out of a bucket without copying:
 *     {@link io.github.panamanccl.bucket.HostTensorView} reads elements (bf16, fp16 and fp8 widened to float) and
 *     writes them (narrowed with one rounding to nearest, ties to even).
 *     A split tensor has no view inside its buckets; scatter it into a destination and view that.</li>
 * <li>{@link io.github.panamanccl.bucket.PlanStorage}: memory laid out by a plan, host
 *     ({@link io.github.panamanccl.bucket.HostPlanStorage}) or device
 *     ({@link io.github.panamanccl.bucket.DevicePlanStorage}), whose tensor views are the application's weights and
 *     whose buckets can be transferred as they are: no pack, no scatter.</li>
 * </ul>
 */
package io.github.panamanccl.bucket;
