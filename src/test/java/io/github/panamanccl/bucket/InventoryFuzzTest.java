package io.github.panamanccl.bucket;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.github.panamanccl.testing.FuzzContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Coverage-guided fuzzing of the inventory TSV parser, {@link Inventory#load} (bytes, line by line): every file
 * ends in an {@link InventoryFormatException} or in an inventory that written back as TSV reads the same; text
 * that is valid UTF-8 has the same outcome through {@link Inventory#parse} (a Reader); within
 * {@link FuzzContract}'s budgets. Seeds: {@link #load()}, plus the corpus in
 * src/test/resources/io/github/panamanccl/bucket/InventoryFuzzTestInputs/load (see src/test/FUZZING.md).
 */
class InventoryFuzzTest {
    private static final String HEADER = "name\tdtype\tshape\n";
    private static Path file;

    @BeforeAll
    static void createFile() throws IOException {
        file = Files.createTempFile("inventory-fuzz", ".tsv");
    }

    @AfterAll
    static void deleteFile() throws IOException {
        Files.deleteIfExists(file);
    }

    static Stream<Arguments> load() {
        String everyDtype = Arrays.stream(DType.values())
                .map(t -> "model.layers.0." + t.torchName() + "\t" + t.torchName() + "\t3," + t.byteSize() + "\n")
                .collect(Collectors.joining());
        return Stream.of(
                seed("header only", HEADER),
                seed("comments, scalar, empty and large tensors", "# model: test\n# more\n" + HEADER
                        + "model.embed_tokens.weight\tbfloat16\t151936,2048\nscale\tfloat32\t\nempty\tint8\t0,7\n"),
                seed("every dtype", HEADER + everyDtype),
                seed("non-ASCII names, CRLF and CR line ends", HEADER.replace("\n", "\r\n")
                        + "modèle.é\tfloat16\t4\r\n中文.权重\tint64\t2,2\r😀\tbool\t1"),
                seed("rank 32", HEADER + "deep\tuint8\t" + "1,".repeat(31) + "1\n"));
    }

    private static Arguments seed(String name, String text) {
        return Arguments.of(Named.of(name, text.getBytes(StandardCharsets.UTF_8)));
    }

    @MethodSource
    @FuzzTest
    void load(byte[] input) throws IOException {
        Files.write(file, input);
        FuzzContract.Outcome<Inventory, InventoryFormatException> loaded =
                FuzzContract.outcome(input, InventoryFormatException.class, () -> Inventory.load(file));
        Optional<String> text = utf8(input);
        if (text.isPresent()) {
            String viaBytes = loaded.value().map(inventory -> inventory.tensors().toString())
                    .orElseGet(() -> loaded.rejection().orElseThrow().getMessage());
            assertEquals(viaBytes, outcome(() -> Inventory.parse(new StringReader(text.get()), file.toString())),
                    "bytes and Reader disagree");
        }
        if (loaded.value().isPresent()) {
            Inventory inventory = loaded.value().get();
            Inventory again = Inventory.parse(new StringReader(tsv(inventory)), "written back");
            assertEquals(inventory.tensors(), again.tensors());
            assertEquals(inventory.totalBytes(), again.totalBytes());
        }
    }

    private interface Parse {
        Inventory get() throws IOException;
    }

    /** The tensors, or the rejection's message (line, field, value, reason). */
    private static String outcome(Parse parse) throws IOException {
        try {
            return parse.get().tensors().toString();
        } catch (InventoryFormatException rejected) {
            return rejected.getMessage();
        }
    }

    private static Optional<String> utf8(byte[] bytes) {
        try {
            return Optional.of(StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString());
        } catch (CharacterCodingException notUtf8) {
            return Optional.empty();
        }
    }

    private static String tsv(Inventory inventory) {
        StringBuilder text = new StringBuilder(HEADER);
        for (TensorSpec tensor : inventory.tensors()) {
            text.append(tensor.name()).append('\t').append(tensor.dtype().torchName()).append('\t');
            for (int axis = 0; axis < tensor.rank(); axis++) {
                text.append(axis == 0 ? "" : ",").append(tensor.dim(axis));
            }
            text.append('\n');
        }
        return text.toString();
    }
}
