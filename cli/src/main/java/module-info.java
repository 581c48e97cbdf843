/**
 * The panama-nccl command line: {@code demo} (a weight sync of a synthetic model) and {@code info}, and the
 * model inventories they and the benchmarks use. An application, not an API: nothing is exported.
 */
module io.github.panamanccl.cli {
    requires io.github.panamanccl;
    requires info.picocli;

    // picocli reads and sets the annotated fields of the command classes reflectively.
    opens io.github.panamanccl.cli to info.picocli;
}
