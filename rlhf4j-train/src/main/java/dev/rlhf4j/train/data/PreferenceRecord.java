package dev.rlhf4j.train.data;

/** One comparison read from a preference file: over plain text, or over chat messages. */
public sealed interface PreferenceRecord permits PreferenceRecord.Text, PreferenceRecord.Chat {

    /** The pair's {@link PreferencePair#margin() margin}. */
    double margin();

    /** The pair's ranking {@link PreferencePair#group() group}, −1 for none. */
    int group();

    record Text(PreferencePair pair) implements PreferenceRecord {
        @Override
        public double margin() {
            return pair.margin();
        }

        @Override
        public int group() {
            return pair.group();
        }
    }

    record Chat(ConversationPair pair) implements PreferenceRecord {
        @Override
        public double margin() {
            return pair.margin();
        }

        @Override
        public int group() {
            return pair.group();
        }
    }
}
