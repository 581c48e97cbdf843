package io.github.panamanccl;

import java.lang.foreign.MemorySegment;

/**
 * Whether the JVM lets panama-nccl call restricted methods (native calls, and widening a memory segment), and the
 * option that allows it: {@code --enable-native-access=io.github.panamanccl} when the library is on the module
 * path, {@code --enable-native-access=ALL-UNNAMED} on the class path. Without it JDK 22 to 25 warn on first use,
 * and refuse under {@code --illegal-native-access=deny}; panama-nccl's messages about it name this option.
 */
public final class NativeAccess {
    private NativeAccess() {
    }

    /** Whether native access is enabled for the library's module (or the class path it is on). */
    public static boolean enabled() {
        return NativeAccess.class.getModule().isNativeAccessEnabled();
    }

    /** The java option that enables native access for the library where it is, e.g. {@code --enable-native-access=ALL-UNNAMED}. */
    public static String flag() {
        Module module = NativeAccess.class.getModule();
        return "--enable-native-access=" + (module.isNamed() ? module.getName() : "ALL-UNNAMED");
    }

    /**
     * Fails unless the JVM lets the library call restricted methods: enabled, or allowed with the JVM's warning
     * (JDK 22 to 25 by default). Asks by calling one (widening {@code NULL} to zero bytes, which touches nothing),
     * so a {@code --illegal-native-access=deny} JVM is told apart from one that only warns.
     *
     * @param what what needs native access, for the message, e.g. {@code "the nccl transport"}
     * @throws IllegalStateException naming {@code what}, where the library is and the option that allows it
     */
    @SuppressWarnings("restricted") // the probe: a zero-length segment at address 0, never accessed
    public static void require(String what) {
        try {
            MemorySegment.NULL.reinterpret(0);
        } catch (IllegalCallerException denied) {
            throw new IllegalStateException(what + " calls native code, and native access is denied to " + location()
                    + " (--illegal-native-access=deny): run java with " + flag(), denied);
        }
    }

    /** Where the library is, for messages: {@code module io.github.panamanccl} or {@code the class path}. */
    public static String location() {
        Module module = NativeAccess.class.getModule();
        return module.isNamed() ? "module " + module.getName() : "the class path";
    }
}
