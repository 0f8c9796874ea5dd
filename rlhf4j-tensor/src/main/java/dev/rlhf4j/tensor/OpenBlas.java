package dev.rlhf4j.tensor;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Locale;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * OpenBLAS called through {@code java.lang.foreign}: no JNI glue. The shared library comes from the
 * {@code org.bytedeco:openblas} Maven artifact, whose platform jar bundles {@code libopenblas} and the runtime
 * libraries it needs; they are extracted once into a cache directory ({@code -Drlhf4j.native.dir}, default
 * {@code ~/.cache/rlhf4j/native}) and loaded from there (the library's RUNPATH is {@code $ORIGIN}).
 *
 * <p>Float arrays on the Java heap are passed directly: the downcalls are linked as <em>critical</em> with heap
 * access, so nothing is copied. OpenBLAS runs single-threaded inside each call; rlhf4j parallelises GEMM itself
 * over its own pool ({@link Gemm}) so that only one set of threads competes for the cores.
 */
public final class OpenBlas {
    static final int ROW_MAJOR = 101;
    static final int NO_TRANS = 111;
    static final int TRANS = 112;

    private static final String RESOURCE_ROOT = "org/bytedeco/openblas/";
    private static final MethodHandle SGEMM;
    private static final MethodHandle SET_THREADS;
    private static final String CONFIG;
    private static final String CORE;
    private static final String LOAD_ERROR;
    private static final Path LIBRARY;

    static {
        MethodHandle sgemm = null, setThreads = null;
        String config = null, core = null, error = null;
        Path library = null;
        try {
            library = locateLibrary();
            SymbolLookup lookup = SymbolLookup.libraryLookup(library, Arena.global());
            Linker linker = Linker.nativeLinker();
            ValueLayout.OfInt i = ValueLayout.JAVA_INT;
            ValueLayout.OfFloat f = ValueLayout.JAVA_FLOAT;
            sgemm = linker.downcallHandle(lookup.findOrThrow("cblas_sgemm"),
                    FunctionDescriptor.ofVoid(i, i, i, i, i, i, f, ValueLayout.ADDRESS, i, ValueLayout.ADDRESS, i, f,
                            ValueLayout.ADDRESS, i),
                    Linker.Option.critical(true));
            setThreads = linker.downcallHandle(lookup.findOrThrow("openblas_set_num_threads"),
                    FunctionDescriptor.ofVoid(i));
            MethodHandle getConfig = linker.downcallHandle(lookup.findOrThrow("openblas_get_config"),
                    FunctionDescriptor.of(ValueLayout.ADDRESS));
            MethodHandle getCore = linker.downcallHandle(lookup.findOrThrow("openblas_get_corename"),
                    FunctionDescriptor.of(ValueLayout.ADDRESS));
            config = ((MemorySegment) getConfig.invokeExact()).reinterpret(1024).getString(0);
            core = ((MemorySegment) getCore.invokeExact()).reinterpret(256).getString(0);
            setThreads.invokeExact(1);
        } catch (Throwable t) {
            error = t.getClass().getSimpleName() + ": " + t.getMessage();
            sgemm = null;
            setThreads = null;
        }
        SGEMM = sgemm;
        SET_THREADS = setThreads;
        CONFIG = config;
        CORE = core;
        LOAD_ERROR = error;
        LIBRARY = library;
    }

    private OpenBlas() {
    }

    /** The CPU core whose kernels OpenBLAS runs (detected, or forced by {@code OPENBLAS_CORETYPE}), or null. */
    public static String core() {
        return CORE;
    }

    /** Whether the native library loaded. */
    public static boolean available() {
        return SGEMM != null;
    }

    /** Why the native library did not load, or null. */
    public static String loadError() {
        return LOAD_ERROR;
    }

    /** OpenBLAS's build configuration and the CPU core it detected, e.g. "OpenBLAS 0.3.31 DYNAMIC_ARCH ... (Zen)". */
    public static String describe() {
        return available() ? CONFIG + " core=" + CORE + " from " + LIBRARY : "unavailable: " + LOAD_ERROR;
    }

    /** Sets OpenBLAS's own thread count (used only by the raw-call benchmark; rlhf4j keeps it at 1). */
    public static void setThreads(int n) {
        try {
            SET_THREADS.invokeExact(n);
        } catch (Throwable t) {
            throw new IllegalStateException("openblas_set_num_threads failed", t);
        }
    }

    /**
     * Row-major {@code C = alpha * op(A) * op(B) + beta * C}, {@code op(A)} being {@code m x k} and
     * {@code op(B)} {@code k x n}, with element offsets into the arrays.
     */
    static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta,
                      float[] c, int cOff, int ldc) {
        try {
            SGEMM.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha,
                    MemorySegment.ofArray(a).asSlice(4L * aOff), lda,
                    MemorySegment.ofArray(b).asSlice(4L * bOff), ldb, beta,
                    MemorySegment.ofArray(c).asSlice(4L * cOff), ldc);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_sgemm failed", t);
        }
    }

    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.contains("linux") ? "linux" : os.contains("mac") ? "macosx" : os.contains("win") ? "windows" : os;
        String a = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "arm64";
            default -> arch;
        };
        return o + "-" + a;
    }

    private static String libraryName(String platform) {
        if (platform.startsWith("linux")) {
            return "libopenblas.so.0";
        }
        if (platform.startsWith("macosx")) {
            return "libopenblas.0.dylib";
        }
        return "libopenblas.dll";
    }

    /** Finds the bundled library for this platform and extracts it (with its runtime libraries) if needed. */
    private static Path locateLibrary() throws IOException {
        String platform = platform();
        String dir = RESOURCE_ROOT + platform + "/";
        String name = libraryName(platform);
        URL url = OpenBlas.class.getClassLoader().getResource(dir + name);
        if (url == null) {
            throw new IOException("no OpenBLAS build for " + platform + " on the class path (expected resource "
                    + dir + name + " from org.bytedeco:openblas:" + platform + ")");
        }
        if ("file".equals(url.getProtocol())) {
            try {
                return Path.of(url.toURI());
            } catch (URISyntaxException e) {
                throw new IOException(e);
            }
        }
        JarURLConnection connection = (JarURLConnection) url.openConnection();
        connection.setUseCaches(false);
        Path jarPath = Path.of(connection.getJarFileURL().getPath());
        String version = jarPath.getFileName().toString().replace(".jar", "");
        Path target = cacheDir().resolve(version);
        Files.createDirectories(target);
        try (JarFile jar = new JarFile(jarPath.toFile())) {
            List<JarEntry> files = new ArrayList<>();
            for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
                JarEntry entry = e.nextElement();
                String rest = entry.getName().startsWith(dir) ? entry.getName().substring(dir.length()) : "";
                // Only the shared libraries at the top of the platform folder; JavaCPP's JNI glue is not used.
                if (!entry.isDirectory() && !rest.isEmpty() && !rest.contains("/") && !rest.startsWith("libjni")
                        && !rest.startsWith("jni")) {
                    files.add(entry);
                }
            }
            for (JarEntry entry : files) {
                Path out = target.resolve(entry.getName().substring(dir.length()));
                if (Files.exists(out) && Files.size(out) == entry.getSize()) {
                    continue;
                }
                Path tmp = Files.createTempFile(target, ".extract-", ".tmp");
                try (InputStream in = jar.getInputStream(entry)) {
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                }
                Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        }
        return target.resolve(name);
    }

    private static Path cacheDir() {
        String prop = System.getProperty("rlhf4j.native.dir");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        Path home = Path.of(System.getProperty("user.home", "."), ".cache", "rlhf4j", "native");
        if (Files.isWritable(home) || (!Files.exists(home) && home.getParent() != null)) {
            try {
                Files.createDirectories(home);
                if (Files.isWritable(home)) {
                    return home;
                }
            } catch (IOException ignored) {
                // fall back to the temporary directory
            }
        }
        return Path.of(System.getProperty("java.io.tmpdir"), "rlhf4j-native-" + System.getProperty("user.name",
                "user"));
    }
}
