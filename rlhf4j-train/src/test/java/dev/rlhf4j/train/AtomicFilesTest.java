package dev.rlhf4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class AtomicFilesTest {

    @Test
    void writesAndReplacesWholeFilesInNewDirectories(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("a/b/out.jsonl");
        AtomicFiles.writeString(f, "one\n");
        assertEquals("one\n", Files.readString(f));
        AtomicFiles.writeString(f, "two\n");
        assertEquals("two\n", Files.readString(f));
        try (Stream<Path> s = Files.list(f.getParent())) {
            assertEquals(1, s.count(), "no temporary file left beside it");
        }
    }

    @Test
    void aFailedWriteLeavesTheOldFileAndNoTemporaryFile(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("out.jsonl");
        AtomicFiles.writeString(f, "old\n");
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(f, os -> {
            os.write("half of the new".getBytes());
            throw new IOException("disk full");
        }));
        assertEquals("disk full", e.getMessage());
        assertEquals("old\n", Files.readString(f));
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(1, s.count());
        }
    }

    @Test
    void theFileGetsThePermissionsOfAPlainWrite(@TempDir Path tmp) throws IOException {
        assumeTrue(tmp.getFileSystem().supportedFileAttributeViews().contains("posix"), "POSIX permissions only");
        Path plain = Files.writeString(tmp.resolve("plain.txt"), "x");
        Path atomic = tmp.resolve("atomic.txt");
        AtomicFiles.writeString(atomic, "x");
        Set<PosixFilePermission> expected = Files.getPosixFilePermissions(plain);
        assertEquals(expected, Files.getPosixFilePermissions(atomic), "the umask's, not a temporary file's 0600");
    }
}
