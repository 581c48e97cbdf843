package io.github.panamanccl;

import io.github.panamanccl.internal.nccl.NcclApi;
import io.github.panamanccl.internal.nccl.ncclConfig_t;
import io.github.panamanccl.internal.nccl.ncclUniqueId;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every generated NCCL binding, called against the fake NCCL (which checks arguments like NCCL does):
 * proves the marshalling of the id by value, the config struct, pointers, size_t counts and enums.
 * Host memory stands in for device memory (the fake copies with memcpy). The last test checks that every
 * function the binding declares was reached.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FakeNcclBindingTest {
    private static final int SUCCESS = 0;
    private static final int INVALID_ARGUMENT = 4;
    private static final int INVALID_USAGE = 5;
    private static final int IN_PROGRESS = 7;

    @BeforeAll
    static void fakeNccl() {
        Nccl.ensureLoaded();
        assertTrue(FakeNative.ncclIsFake(), NativeLibraries.status(NativeLibrary.NCCL).toString());
        FakeNative.ncclReset(); // the coverage check at the end counts this class's calls only
    }

    private static MemorySegment newId(Arena arena) {
        MemorySegment id = ncclUniqueId.allocate(arena);
        assertEquals(SUCCESS, NcclApi.ncclGetUniqueId(id));
        return id;
    }

    /** A blocking single-rank communicator. */
    private static MemorySegment newComm(Arena arena) {
        MemorySegment out = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
        assertEquals(SUCCESS, NcclApi.ncclCommInitRank(out, 1, newId(arena), 0));
        MemorySegment comm = out.get(ADDRESS, 0);
        assertNotEquals(MemorySegment.NULL, comm);
        return comm;
    }

    private static MemorySegment floats(Arena arena, float... values) {
        return arena.allocateFrom(JAVA_FLOAT, values);
    }

    private static String lastError() {
        return NativeResults.ncclLastError(MemorySegment.NULL);
    }

    @Test
    @Order(1)
    void versionAndNullOutPointer() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment version = arena.allocateFrom(JAVA_INT, 0);
            assertEquals(SUCCESS, NcclApi.ncclGetVersion(version));
            assertEquals(23007, version.get(JAVA_INT, 0));
        }
        assertEquals(INVALID_ARGUMENT, NcclApi.ncclGetVersion(MemorySegment.NULL));
        assertTrue(lastError().contains("ncclGetVersion"), lastError());
    }

    @Test
    @Order(2)
    void theUniqueIdTravelsByValueIntact() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment id = newId(arena);
            byte[] bytes = id.toArray(JAVA_BYTE);
            assertEquals("FAKENCCL", new String(bytes, 0, 8, StandardCharsets.US_ASCII));
            assertNotEquals(bytes[127], (byte) 0, "the fake fills all 128 bytes");

            MemorySegment out = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            assertEquals(SUCCESS, NcclApi.ncclCommInitRank(out, 1, id, 0));
            MemorySegment comm = out.get(ADDRESS, 0);
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(comm));

            // flipping the last byte proves the fake sees all 128 bytes of the by-value struct
            id.set(JAVA_BYTE, 127, (byte) (bytes[127] ^ 0x55));
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommInitRank(out, 1, id, 0));
            assertTrue(lastError().contains("corrupted at byte 127"), lastError());
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclGetUniqueId(MemorySegment.NULL));
        }
    }

    @Test
    @Order(3)
    void initRankChecksRankAndNranks() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommInitRank(out, 2, newId(arena), 2));
            assertTrue(lastError().contains("Invalid rank requested : 2/2"), lastError());
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommInitRank(MemorySegment.NULL, 1, newId(arena), 0));
        }
    }

    @Test
    @Order(4)
    void theConfigIsReadFieldByFieldAndANonBlockingInitCompletesOnALaterPoll() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            MemorySegment config = NcclConfig.allocate(arena, 23007, false);
            assertEquals(IN_PROGRESS, NcclApi.ncclCommInitRankConfig(out, 1, newId(arena), 0, config));
            MemorySegment comm = out.get(ADDRESS, 0);
            assertNotEquals(MemorySegment.NULL, comm);

            assertEquals(96, FakeNative.ncclLastConfig("size"));
            assertEquals(0xcafebeefL, FakeNative.ncclLastConfig("magic"));
            assertEquals(23007, FakeNative.ncclLastConfig("version"));
            assertEquals(0, FakeNative.ncclLastConfig("blocking"));
            for (String field : List.of("cgaClusterSize", "minCTAs", "maxCTAs", "splitShare", "trafficClass",
                    "collnetEnable", "CTAPolicy", "shrinkShare", "nvlsCTAs", "nChannelsPerNetPeer",
                    "nvlinkCentricSched", "graphUsageMode", "numRmaCtx", "maxP2pPeers", "graphStreamOrdering")) {
                assertEquals(Integer.MIN_VALUE, FakeNative.ncclLastConfig(field), field);
            }
            assertEquals(0, FakeNative.ncclLastConfig("netName"));
            assertEquals(0, FakeNative.ncclLastConfig("commName"));

            // work on a communicator that is still initialising is refused
            assertEquals(INVALID_USAGE, NcclApi.ncclBroadcast(floats(arena, 1f), floats(arena, 0f), 1, 7, 0, comm,
                    MemorySegment.NULL));
            MemorySegment state = arena.allocateFrom(JAVA_INT, -1);
            assertEquals(SUCCESS, NcclApi.ncclCommGetAsyncError(comm, state));
            assertEquals(IN_PROGRESS, state.get(JAVA_INT, 0));
            assertEquals(SUCCESS, NcclApi.ncclCommGetAsyncError(comm, state));
            assertEquals(SUCCESS, state.get(JAVA_INT, 0));
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommGetAsyncError(comm, MemorySegment.NULL));

            assertEquals(IN_PROGRESS, NcclApi.ncclCommFinalize(comm));
            assertEquals(SUCCESS, NcclApi.ncclCommGetAsyncError(comm, state));
            assertEquals(IN_PROGRESS, state.get(JAVA_INT, 0));
            assertEquals(SUCCESS, NcclApi.ncclCommGetAsyncError(comm, state));
            assertEquals(SUCCESS, state.get(JAVA_INT, 0));
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(comm));
        }
    }

    @Test
    @Order(5)
    void aConfigWithoutMagicOrWithABadBlockingValueIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            MemorySegment config = NcclConfig.allocate(arena, 23007, true);
            config.set(JAVA_INT, 8, 0x12345678);
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommInitRankConfig(out, 1, newId(arena), 0, config));
            assertTrue(lastError().contains("NCCL_CONFIG_INITIALIZER"), lastError());

            MemorySegment blocking2 = NcclConfig.allocate(arena, 23007, true);
            blocking2.set(JAVA_INT, 16, 2);
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommInitRankConfig(out, 1, newId(arena), 0, blocking2));
            assertTrue(lastError().contains("blocking 2"), lastError());

        }
    }

    @Test
    @Order(5)
    void fieldsNewerThanTheConfigVersionAreResetToTheirDefaults() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            MemorySegment v218 = NcclConfig.allocate(arena, 21800, true);
            setField(v218, "cgaClusterSize", 2);  // 2.17
            setField(v218, "splitShare", 1);      // 2.18
            setField(v218, "trafficClass", 5);    // 2.26
            setField(v218, "maxP2pPeers", 3);     // 2.30
            assertEquals(SUCCESS, NcclApi.ncclCommInitRankConfig(out, 1, newId(arena), 0, v218));
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(out.get(ADDRESS, 0)));

            assertEquals(2, FakeNative.ncclLastConfig("cgaClusterSize"));
            assertEquals(1, FakeNative.ncclLastConfig("splitShare"));
            assertEquals(Integer.MIN_VALUE, FakeNative.ncclLastConfig("trafficClass"));
            assertEquals(Integer.MIN_VALUE, FakeNative.ncclLastConfig("maxP2pPeers"));

            // older than the config itself: even blocking = 0 is a field it does not know, so the default (blocking)
            MemorySegment v213 = NcclConfig.allocate(arena, 21300, false);
            assertEquals(SUCCESS, NcclApi.ncclCommInitRankConfig(out, 1, newId(arena), 0, v213));
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(out.get(ADDRESS, 0)));
            assertEquals(Integer.MIN_VALUE, FakeNative.ncclLastConfig("blocking"));
            assertEquals(21300, FakeNative.ncclLastConfig("version"));
        }
    }

    private static void setField(MemorySegment config, String name, int value) {
        config.set(JAVA_INT, ncclConfig_t.layout().byteOffset(MemoryLayout.PathElement.groupElement(name)), value);
    }

    @Test
    @Order(6)
    void queriesReportCountRankAndDevice() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment devices = arena.allocateFrom(JAVA_INT, 3, 5);
            MemorySegment comms = arena.allocate(ADDRESS, 2);
            assertEquals(SUCCESS, NcclApi.ncclCommInitAll(comms, 2, devices));
            MemorySegment value = arena.allocate(JAVA_INT);
            for (int i = 0; i < 2; i++) {
                MemorySegment comm = comms.getAtIndex(ADDRESS, i);
                assertEquals(SUCCESS, NcclApi.ncclCommCount(comm, value));
                assertEquals(2, value.get(JAVA_INT, 0));
                assertEquals(SUCCESS, NcclApi.ncclCommUserRank(comm, value));
                assertEquals(i, value.get(JAVA_INT, 0));
                assertEquals(SUCCESS, NcclApi.ncclCommCuDevice(comm, value));
                assertEquals(devices.getAtIndex(JAVA_INT, i), value.get(JAVA_INT, 0));
            }
            // this execution runs the real CUDA runtime: the fake cannot order a collective over 2 ranks on a stream
            MemorySegment comm0 = comms.getAtIndex(ADDRESS, 0);
            assertEquals(INVALID_USAGE, NcclApi.ncclBroadcast(floats(arena, 1f), floats(arena, 0f), 1, 7, 0, comm0,
                    MemorySegment.NULL));
            assertTrue(lastError().contains("Broadcast over 2 ranks needs the fake CUDA runtime"), lastError());
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommCount(comm0, MemorySegment.NULL));
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(comm0));
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(comms.getAtIndex(ADDRESS, 1)));
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommCount(comm0, value), "a destroyed comm is not live");
        }
    }

    @Test
    @Order(7)
    void broadcastCopiesSendToRecvAndChecksRootAndType() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comm = newComm(arena);
            MemorySegment send = floats(arena, 1.5f, -2f, 3.25f, 4f);
            MemorySegment recv = floats(arena, 0, 0, 0, 0);

            assertEquals(SUCCESS, NcclApi.ncclBroadcast(send, recv, 3, NcclDataType.FLOAT32.code(), 0, comm,
                    MemorySegment.NULL));
            assertArrayEquals(new float[] {1.5f, -2f, 3.25f, 0f}, recv.toArray(JAVA_FLOAT), "count limits the copy");

            int badRoot = NcclApi.ncclBroadcast(send, recv, 4, 7, 1, comm, MemorySegment.NULL);
            NcclException rootFailure = NativeResults.ncclException("ncclBroadcast", badRoot, comm);
            assertEquals(INVALID_ARGUMENT, rootFailure.code());
            assertEquals("ncclInvalidArgument", rootFailure.errorName());
            assertEquals("invalid argument (run with NCCL_DEBUG=WARN for details)", rootFailure.errorString());
            assertEquals("Broadcast : invalid root 1 (root should be in the 0..0 range)", rootFailure.lastError());

            int badType = NcclApi.ncclBroadcast(send, recv, 4, 12, 0, comm, MemorySegment.NULL);
            NcclException typeFailure = NativeResults.ncclException("ncclBroadcast", badType, comm);
            assertEquals(INVALID_ARGUMENT, typeFailure.code());
            assertEquals("Broadcast : invalid type 12", typeFailure.lastError());
            assertArrayEquals(new float[] {1.5f, -2f, 3.25f, 0f}, recv.toArray(JAVA_FLOAT), "failed calls copy nothing");

            MemorySegment untouched = floats(arena, 9f);
            assertEquals(SUCCESS, NcclApi.ncclBroadcast(send, untouched, 0, 7, 0, comm, MemorySegment.NULL));
            assertEquals(9f, untouched.get(JAVA_FLOAT, 0), "count 0 is a no-op");
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclBroadcast(send, MemorySegment.NULL, 1, 7, 0, comm, MemorySegment.NULL));

            MemorySegment bytes = arena.allocateFrom(JAVA_LONG, 0x0102030405060708L, 0L);
            MemorySegment bytesOut = arena.allocate(JAVA_LONG, 2);
            assertEquals(SUCCESS, NcclApi.ncclBroadcast(bytes, bytesOut, 2, NcclDataType.INT64.code(), 0, comm,
                    MemorySegment.NULL));
            assertEquals(0x0102030405060708L, bytesOut.get(JAVA_LONG, 0), "size_t count and element size by type");

            assertEquals(SUCCESS, NcclApi.ncclBcast(recv, 4, 7, 0, comm, MemorySegment.NULL));
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclBcast(recv, 4, 7, -1, comm, MemorySegment.NULL));
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(comm));
        }
    }

    @Test
    @Order(8)
    void reductionsAndGathersCopyOnOneRankAndCheckTheOperation() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comm = newComm(arena);
            MemorySegment send = floats(arena, 1f, 2f);
            MemorySegment recv = floats(arena, 0f, 0f);
            assertEquals(SUCCESS, NcclApi.ncclAllReduce(send, recv, 2, 7, NcclApi.ncclSum(), comm, MemorySegment.NULL));
            assertArrayEquals(new float[] {1f, 2f}, recv.toArray(JAVA_FLOAT));
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclAllReduce(send, recv, 2, 7, 5, comm, MemorySegment.NULL));

            MemorySegment reduced = floats(arena, 0f, 0f);
            assertEquals(SUCCESS, NcclApi.ncclReduce(send, reduced, 2, 7, NcclApi.ncclMax(), 0, comm, MemorySegment.NULL));
            assertArrayEquals(new float[] {1f, 2f}, reduced.toArray(JAVA_FLOAT));
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclReduce(send, reduced, 2, 7, 0, 3, comm, MemorySegment.NULL));

            MemorySegment gathered = floats(arena, 0f, 0f);
            assertEquals(SUCCESS, NcclApi.ncclAllGather(send, gathered, 2, 7, comm, MemorySegment.NULL));
            assertArrayEquals(new float[] {1f, 2f}, gathered.toArray(JAVA_FLOAT));

            MemorySegment scattered = floats(arena, 0f, 0f);
            assertEquals(SUCCESS, NcclApi.ncclReduceScatter(send, scattered, 1, 7, NcclApi.ncclAvg(), comm,
                    MemorySegment.NULL));
            assertArrayEquals(new float[] {1f, 0f}, scattered.toArray(JAVA_FLOAT));
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(comm));
        }
    }

    @Test
    @Order(9)
    void aSelfSendAndReceiveInAGroupMoveTheData() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comm = newComm(arena);
            MemorySegment send = floats(arena, 7f, 8f, 9f);
            MemorySegment recv = floats(arena, 0f, 0f, 0f);
            assertEquals(SUCCESS, NcclApi.ncclGroupStart());
            assertEquals(SUCCESS, NcclApi.ncclSend(send, 3, 7, 0, comm, MemorySegment.NULL));
            assertEquals(SUCCESS, NcclApi.ncclRecv(recv, 3, 7, 0, comm, MemorySegment.NULL));
            assertEquals(SUCCESS, NcclApi.ncclGroupEnd());
            assertArrayEquals(new float[] {7f, 8f, 9f}, recv.toArray(JAVA_FLOAT));
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclSend(send, 3, 7, 1, comm, MemorySegment.NULL));
            assertTrue(lastError().contains("invalid peer 1"), lastError());
            assertEquals(INVALID_USAGE, NcclApi.ncclGroupEnd(), "groupEnd outside a group");
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(comm));
        }
    }

    @Test
    @Order(10)
    void splitMemoryRegistrationAndAbort() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment comm = newComm(arena);
            MemorySegment child = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            assertEquals(SUCCESS, NcclApi.ncclCommSplit(comm, 0, 0, child, MemorySegment.NULL));
            assertNotEquals(MemorySegment.NULL, child.get(ADDRESS, 0));
            assertEquals(SUCCESS, NcclApi.ncclCommAbort(child.get(ADDRESS, 0)));
            assertEquals(SUCCESS, NcclApi.ncclCommSplit(comm, -1, 0, child, MemorySegment.NULL));
            assertEquals(MemorySegment.NULL, child.get(ADDRESS, 0), "NCCL_SPLIT_NOCOLOR yields no communicator");

            MemorySegment pointer = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            assertEquals(SUCCESS, NcclApi.ncclMemAlloc(pointer, 4096));
            MemorySegment memory = pointer.get(ADDRESS, 0);
            MemorySegment handle = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            assertEquals(SUCCESS, NcclApi.ncclCommRegister(comm, memory, 4096, handle));
            assertNotEquals(MemorySegment.NULL, handle.get(ADDRESS, 0));
            assertEquals(SUCCESS, NcclApi.ncclCommDeregister(comm, handle.get(ADDRESS, 0)));
            assertEquals(INVALID_ARGUMENT, NcclApi.ncclCommRegister(comm, memory, 4096, MemorySegment.NULL));
            assertEquals(SUCCESS, NcclApi.ncclMemFree(memory));

            assertEquals(SUCCESS, NcclApi.ncclCommAbort(comm));
            assertEquals(SUCCESS, NcclApi.ncclCommAbort(MemorySegment.NULL), "aborting NULL succeeds as in NCCL");
            assertEquals(SUCCESS, NcclApi.ncclCommDestroy(MemorySegment.NULL));
        }
    }

    @Test
    @Order(11)
    void everyResultCodeHasANameAndAString() {
        String[] names = {"ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
                "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress", "ncclTimeout"};
        for (int code = 0; code < names.length; code++) {
            assertEquals(names[code], NcclResult.nameOf(code));
            assertTrue(!NativeResults.ncclErrorString(code).isBlank());
        }
        NcclException unknown = NativeResults.ncclException("ncclSomething", 42, MemorySegment.NULL);
        assertEquals("ncclUnknownResult(42)", unknown.errorName());
        assertEquals("unknown result code", unknown.errorString());
        assertEquals(42, unknown.code());
        assertTrue(unknown.getMessage().startsWith("ncclSomething failed: ncclUnknownResult(42) (42): unknown result code"),
                unknown.getMessage());
    }

    @Test
    @Order(12)
    void aForcedFailureCarriesTheFakesLastErrorText() {
        FakeNative.ncclFailNext("ncclGetVersion", 2);
        NcclException failure = org.junit.jupiter.api.Assertions.assertThrows(NcclException.class, Nccl::version);

        assertEquals("ncclGetVersion", failure.call());
        assertEquals(2, failure.code());
        assertEquals("ncclSystemError", failure.errorName());
        assertEquals("fake_nccl: forced failure of ncclGetVersion with result 2", failure.lastError());
        assertTrue(failure.getMessage().endsWith("; last error: fake_nccl: forced failure of ncclGetVersion with result 2"),
                failure.getMessage());
    }

    @Test
    @Order(Integer.MAX_VALUE)
    void everyBoundFunctionWasCalled() {
        List<String> functions = Arrays.stream(NcclApi.class.getDeclaredMethods())
                .filter(m -> Modifier.isPublic(m.getModifiers()) && Modifier.isStatic(m.getModifiers()))
                .map(Method::getName)
                .filter(name -> name.startsWith("nccl") && !name.contains("$"))
                .filter(FakeNcclBindingTest::isFunction)
                .distinct().sorted().toList();

        assertEquals(29, functions.size(), functions.toString());
        List<String> neverCalled = functions.stream().filter(f -> FakeNative.ncclCallCount(f) == 0).toList();
        assertEquals(List.of(), neverCalled);
    }

    /** Functions have a $handle accessor; constants (ncclSuccess(), ncclFloat32(), ...) do not. */
    private static boolean isFunction(String name) {
        return Arrays.stream(NcclApi.class.getDeclaredMethods()).anyMatch(m -> m.getName().equals(name + "$handle"));
    }
}
