package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.Trainer;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.data.PairCollator;
import dev.rlhf4j.train.data.PairExample;
import dev.rlhf4j.train.data.PairTokenization;
import dev.rlhf4j.train.data.PreferenceReader;
import dev.rlhf4j.train.data.TokenizedPairs;
import dev.rlhf4j.train.reward.RewardObjective;
import dev.rlhf4j.train.reward.RewardStats;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** {@code rlhf4j reward train}: a reward model from preference pairs. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        defaultValueProvider = RecordDefaults.Training.class,
        description = {"Train a Bradley–Terry reward model (TRL's RewardTrainer): loss −log σ(r_chosen − r_rejected − "
                + "margin), the reward read at each sequence's last token from a scalar head on the model (a new head "
                + "when --model is a language model, e.g. the SFT policy).",
                "Data: {\"prompt\",\"chosen\",\"rejected\"} (explicit or implicit prompt, or message lists), HH-RLHF "
                        + "transcripts, optional \"margin\", K-way {\"prompt\",\"responses\",\"ranking\"}; .jsonl, "
                        + ".json or .gz. The model is saved as an HF *ForSequenceClassification directory with the "
                        + "mean and std of its training rewards in config.json."})
public final class RewardTrainCommand extends TrainingCommandBase {

    @Override
    OutputHeads heads() {
        return OutputHeads.SCALAR;
    }

    @Override
    void train(Opened opened, TrainingConfig cfg, RunDirectory run, PrintWriter err) throws IOException {
        Safetensors.DType dtype = saveDtype();
        Tokenizer tok = opened.tokenizer();
        TokenizedPairs all = PairTokenization.tokenize(PreferenceReader.read(data), tok, opened.chat(),
                cfg.maxLength());
        List<PairExample> eval = evalData == null ? List.of() : PairTokenization.tokenize(
                PreferenceReader.read(evalData), tok, opened.chat(), cfg.maxLength()).pairs();
        List<List<PairExample>> parts = trainEval(all.pairs(), eval, (pairs, n) -> splitByGroup(pairs, p -> p, n,
                cfg.seed()));
        List<PairExample> train = parts.get(0);
        eval = parts.get(1);
        err.printf("%s: %d training pairs, %d held out; %s%n", data, train.size(), eval.size(),
                all.describe(cfg.maxLength()));
        int padId = tok.paddingId();
        List<PairExample> trainPairs = train;
        RewardObjective objective = new RewardObjective(opened.model(), train, eval, cfg, padId, (model, dir) -> {
            HfCheckpoint.save(model, dir, opened.saveOptions(dtype));
            List<int[]> responses = new ArrayList<>();
            for (PairExample p : trainPairs) {
                responses.add(p.chosen());
                responses.add(p.rejected());
            }
            RewardStats stats = RewardStats.of(RewardObjective.score(model, responses, cfg.perDeviceEvalBatchSize(),
                    cfg.maxLength(), padId));
            stats.writeTo(dir);
            err.printf("training rewards: mean %.4f, std %.4f (stored in config.json)%n", stats.mean(), stats.std());
        });
        Trainer trainer = new Trainer(cfg, objective, err);
        err.printf("training %,d parameters for %d steps (%d per epoch)%n", opened.model().trainableCount(),
                trainer.totalSteps(), objective.stepsPerEpoch());
        trainer.train(run);
    }

    /**
     * Holds out about {@code n} pairs, whole ranking groups at a time, chosen by a seeded shuffle of their shapes (the
     * pairs themselves for a reward model, {@link dev.rlhf4j.train.dpo.DpoExample#asPair} for DPO).
     */
    static <T> List<List<T>> splitByGroup(List<T> pairs, Function<T, PairExample> shape, int n, long seed) {
        List<PairExample> shapes = pairs.stream().map(shape).toList();
        int[] order = PairCollator.epochOrder(shapes, seed, 0);
        List<T> eval = new ArrayList<>(), train = new ArrayList<>();
        int i = 0;
        for (; i < order.length && eval.size() < n; i++) {
            eval.add(pairs.get(order[i]));
        }
        // finish the group the last held-out pair belongs to
        while (i < order.length && shapes.get(order[i]).group() >= 0
                && shapes.get(order[i]).group() == shapes.get(order[i - 1]).group()) {
            eval.add(pairs.get(order[i++]));
        }
        for (; i < order.length; i++) {
            train.add(pairs.get(order[i]));
        }
        if (train.isEmpty()) {
            throw new UserError("--eval-split leaves no pair to train on");
        }
        return List.of(train, eval);
    }
}
