package dev.rlhf4j.cli;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Standard error as the user gave it to {@code ./rlhf4j}.
 *
 * <p>Java 25 prints {@code WARNING: Using incubator modules: jdk.incubator.vector} on standard error whenever the
 * Vector API is in use, before {@code main}, and no JVM option silences it. The launcher therefore starts the JVM
 * with standard error going through a filter that drops exactly that line, and passes the standard error it was
 * given as another descriptor, named by {@code -Drlhf4j.stderr.fd}. Once {@code main} runs, that descriptor is put
 * back in place ({@code dup2}), so that everything the program writes goes straight to the terminal or file again,
 * with no process in between and in order with standard output. Where that fails the filter keeps passing the output
 * through unchanged; nothing is lost either way.
 */
final class StandardError {
    static final String FD_PROPERTY = "rlhf4j.stderr.fd";

    private StandardError() {
    }

    /** Points descriptor 2 back at the launcher's standard error, if the launcher passed one. */
    static void restore() {
        String fd = System.getProperty(FD_PROPERTY);
        if (fd == null || fd.isBlank()) {
            return;
        }
        try {
            int saved = Integer.parseInt(fd.trim());
            Optional<MethodHandle> dup2 = libc("dup2", FunctionDescriptor.of(ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            Optional<MethodHandle> close = libc("close", FunctionDescriptor.of(ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT));
            if (saved <= 2 || dup2.isEmpty() || close.isEmpty()) {
                return;
            }
            System.err.flush();
            if ((int) dup2.get().invokeExact(saved, 2) != 2) {
                return;
            }
            int ignored = (int) close.get().invokeExact(saved);
            // the filter, this process's only child, now sees the end of its input: once it has exited, whatever
            // the JVM printed before main (a "Picked up JAVA_TOOL_OPTIONS" line, say) is out, before our output
            for (ProcessHandle filter : ProcessHandle.current().children().toList()) {
                filter.onExit().get(1, TimeUnit.SECONDS);
            }
        } catch (Throwable e) {
            // standard error stays on the launcher's filter, which passes everything else through
        }
    }

    private static Optional<MethodHandle> libc(String name, FunctionDescriptor descriptor) {
        Linker linker = Linker.nativeLinker();
        return linker.defaultLookup().find(name).map(symbol -> linker.downcallHandle(symbol, descriptor));
    }
}
