package io.github.panamanccl.bucket;

/** How plan-layout storage ({@link PlanStorage}) divides a plan's buckets among its allocations. */
public enum StorageSegments {
    /**
     * One allocation for all buckets, in order, each starting at the next multiple of the plan's alignment after the
     * previous one ends. A split tensor lies in one piece when every bucket it leaves ends at a multiple of the
     * alignment and its next piece starts at offset 0: {@link BucketPlanner} plans so when the cap is a multiple of
     * the alignment. One allocation (and one memory registration, should a transport want one) for the whole
     * model; what a weight-sync path should use.
     */
    ONE_FOR_ALL_BUCKETS,
    /**
     * One allocation per bucket, exactly its size. A split tensor has no single piece here, so plans with split
     * tensors are refused: plan with {@link BucketPlanner.LargeTensors#OWN_BUCKET}.
     */
    ONE_PER_BUCKET
}
