package io.github.panamanccl.cli;

/** Entry point of the panama-nccl command line. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.out.println("panama-nccl on JDK " + Runtime.version());
    }
}
