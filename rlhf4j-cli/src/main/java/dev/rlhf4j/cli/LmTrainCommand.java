package dev.rlhf4j.cli;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.train.LmObjective;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.Trainer;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.data.DatasetReader;
import dev.rlhf4j.train.data.Example;
import dev.rlhf4j.train.data.Splits;
import dev.rlhf4j.train.data.TokenizedDataset;
import dev.rlhf4j.train.data.Tokenization;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;

/** Pretraining and SFT: next-token loss through {@link LmObjective}. */
abstract class LmTrainCommand extends TrainingCommandBase {

    @Override
    OutputHeads heads() {
        return OutputHeads.LM;
    }

    @Override
    void train(Opened opened, TrainingConfig cfg, RunDirectory run, PrintWriter err) throws IOException {
        Safetensors.DType dtype = saveDtype();
        Tokenizer tok = opened.tokenizer();
        // everything is read and tokenized before training starts: a bad record stops the run here
        TokenizedDataset trainSet = Tokenization.tokenize(DatasetReader.read(data), tok, opened.chat(),
                cfg.maxLength(), completionOnly());
        List<Example> eval = evalData == null ? List.of() : Tokenization.tokenize(DatasetReader.read(evalData), tok,
                opened.chat(), cfg.maxLength(), completionOnly()).examples();
        List<List<Example>> parts = trainEval(trainSet.examples(), eval,
                (all, n) -> Splits.trainEval(all, n, cfg.seed()));
        List<Example> train = parts.get(0);
        eval = parts.get(1);
        err.printf("%s: %d training examples (%d tokens, %d in the loss; %d truncated or dropped at max_length %d), "
                        + "%d held out%n", data, train.size(), trainSet.tokens(), trainSet.trainableTokens(),
                trainSet.truncated(), cfg.maxLength(), eval.size());
        LmObjective objective = new LmObjective(opened.model(), train, eval, cfg, tok.paddingId(),
                (model, dir) -> HfCheckpoint.save(model, dir, opened.saveOptions(dtype)));
        Trainer trainer = new Trainer(cfg, objective, err);
        err.printf("training %,d parameters for %d steps (%d per epoch)%n", opened.model().trainableCount(),
                trainer.totalSteps(), objective.stepsPerEpoch());
        trainer.train(run);
    }
}
