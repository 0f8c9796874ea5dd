package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector width used by every kernel, chosen once at start-up: the CPU's preferred width, or
 * {@code -Drlhf4j.vector.bits=128|256|512} to override it (for comparing widths, or on a CPU whose wide vectors
 * run at a lower clock).
 */
public final class Simd {
    public static final VectorSpecies<Float> F = chooseSpecies();
    /** Floats per vector. */
    public static final int L = F.length();

    private Simd() {
    }

    private static VectorSpecies<Float> chooseSpecies() {
        String bits = System.getProperty("rlhf4j.vector.bits");
        if (bits == null || bits.isBlank()) {
            return FloatVector.SPECIES_PREFERRED;
        }
        return switch (bits.trim()) {
            case "64" -> FloatVector.SPECIES_64;
            case "128" -> FloatVector.SPECIES_128;
            case "256" -> FloatVector.SPECIES_256;
            case "512" -> FloatVector.SPECIES_512;
            default -> throw new IllegalArgumentException(
                    "-Drlhf4j.vector.bits must be 64, 128, 256 or 512, got '" + bits + "'");
        };
    }

    /** The vector shape in bits, for reports. */
    public static int bits() {
        return F.vectorBitSize();
    }
}
