package dev.rlhf4j.train.dpo;

import dev.rlhf4j.tensor.UserError;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The DPO losses rlhf4j offers, with TRL's {@code loss_type} names; each is a function of the implicit reward margin
 * h = (πc − πr) − (ρc − ρr) and β, see {@link DpoLoss}.
 */
public enum DpoLossType {
    /** Rafailov et al. 2023, eq. 7; with label smoothing ε it is conservative DPO (cDPO, Mitchell 2023). */
    SIGMOID,
    /** Azar et al. 2023, eq. 17: squared distance of h from 1/(2β); log-probs averaged over the tokens (TRL). */
    IPO,
    /** SLiC (Zhao et al. 2023): max(0, 1 − βh). */
    HINGE,
    /** Robust DPO (Chowdhury et al. 2024, eq. 9): unbiased under a label-flip rate ε. */
    ROBUST;

    /** The name on the command line and in config files: sigmoid, ipo, hinge, robust. */
    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a command-line name; the error lists the accepted ones. */
    public static DpoLossType parse(String name) {
        for (DpoLossType type : values()) {
            if (type.cliName().equals(name)) {
                return type;
            }
        }
        throw new UserError("unknown --loss-type '" + name + "': expected one of "
                + Arrays.stream(values()).map(DpoLossType::cliName).collect(Collectors.joining(", ")));
    }
}
