package io.github.panamanccl;

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

    /** Where the library is, for messages: {@code module io.github.panamanccl} or {@code the class path}. */
    public static String location() {
        Module module = NativeAccess.class.getModule();
        return module.isNamed() ? "module " + module.getName() : "the class path";
    }
}
