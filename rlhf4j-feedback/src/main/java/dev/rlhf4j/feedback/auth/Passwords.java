package dev.rlhf4j.feedback.auth;

import org.springframework.security.crypto.argon2.Argon2PasswordEncoder;

/**
 * Password hashing with Argon2id (memory-hard; Spring Security Crypto's encoder with its current defaults: 16 MiB,
 * two passes, a random 16-byte salt per hash). A hash carries its parameters, so stronger defaults later still
 * verify old hashes.
 */
public final class Passwords {
    /** Shortest password accepted. */
    public static final int MIN_LENGTH = 10;
    /** Longest password accepted (Argon2 takes any length; this bounds the work one request can ask for). */
    public static final int MAX_LENGTH = 200;

    private static final Argon2PasswordEncoder ENCODER = Argon2PasswordEncoder.defaultsForSpringSecurity_v5_8();

    private Passwords() {
    }

    /** The hash to store; the password must pass {@link #check}. */
    public static String hash(String password) {
        check(password);
        return ENCODER.encode(password);
    }

    /** Whether {@code password} is the one {@code hash} was made from (false for a null or malformed hash). */
    public static boolean matches(String password, String hash) {
        if (password == null || hash == null || password.length() > MAX_LENGTH) {
            return false;
        }
        return ENCODER.matches(password, hash);
    }

    /** Refuses a password that is too short or too long. */
    public static void check(String password) {
        if (password == null || password.length() < MIN_LENGTH) {
            throw new IllegalArgumentException("a password has at least " + MIN_LENGTH + " characters");
        }
        if (password.length() > MAX_LENGTH) {
            throw new IllegalArgumentException("a password has at most " + MAX_LENGTH + " characters");
        }
    }

    /**
     * A hash of a random password, to spend the same time on an unknown user name as on a known one (so that the
     * time a failed sign-in takes does not tell which names exist).
     */
    public static String decoy() {
        return Decoy.HASH;
    }

    private static final class Decoy {
        static final String HASH = ENCODER.encode(Tokens.newToken());
    }
}
