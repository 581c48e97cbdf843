package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.bucket.HostPlanStorage;

/**
 * Test-side copies between device plan-layout storage and a host storage of the same plan, bucket by bucket
 * (cudaMemcpy: outside the updates whose copies the tests count), so host code can fill and check device weights.
 */
final class DeviceStorageCopies {
    private DeviceStorageCopies() {
    }

    static void upload(HostPlanStorage from, DevicePlanStorage to) {
        for (int k = 0; k < from.plan().bucketCount(); k++) {
            Cuda.memcpy(to.bucket(k).address(), from.bucket(k).address(), from.bucket(k).byteSize());
        }
    }

    static void download(DevicePlanStorage from, HostPlanStorage to) {
        for (int k = 0; k < from.plan().bucketCount(); k++) {
            Cuda.memcpy(to.bucket(k).address(), from.bucket(k).address(), to.bucket(k).byteSize());
        }
    }
}
