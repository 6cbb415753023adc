/**
 * Command-line options of predict.js, parsed with commander. An invalid option ends the
 * program with one line naming the option, the value and what is accepted (exit status 2)
 * before the model or any image is read.
 */
import { Command, Option } from 'commander';

import { integer, nonEmpty, parseCommand } from './command.js';

export interface PredictOptions {
  /** Directory of a saved model (model.json and its weight files). */
  model: string;
  /** PNG or IDX files to classify, in the order given. */
  files: string[];
  /** Print one JSON document on stdout instead of one line per image. */
  json: boolean;
  /** Worker threads for model.predict(); 0 runs inference on the calling thread. */
  threads: number;
}

export const PREDICT_DEFAULTS = { threads: 0 } as const;

const MAX_THREADS = 1024;

export function buildPredictCommand(): Command {
  return new Command('predict.js')
    .description(
      'Classify PNG images and IDX image files with a model saved by train.js --save. ' +
        'PNG images of any size are converted to 28x28 grayscale digits the way MNIST was made; ' +
        'IDX files must hold uint8 images of the model input size, and every image in them is classified.',
    )
    .argument('<file...>', 'PNG or IDX files (IDX may be gzip-compressed)')
    .addOption(new Option('--model <dir>', 'directory of the saved model (model.json and weights.bin)').makeOptionMandatory().argParser(nonEmpty))
    .addOption(new Option('--json', 'print one JSON document with every probability on stdout instead of one line per image').default(false))
    .addOption(
      new Option('--threads <n>', 'worker threads for inference; 0 runs it on the calling thread')
        .default(PREDICT_DEFAULTS.threads)
        .argParser(integer(0, MAX_THREADS)),
    )
    .showSuggestionAfterError(true);
}

/**
 * Parses argv (without the node and script entries). Throws UsageError for invalid input;
 * help output is written by commander and reported with exit code 0.
 */
export function parsePredictOptions(argv: string[], write: { out: (s: string) => void }): PredictOptions {
  const command = parseCommand(buildPredictCommand(), argv, write);
  const o = command.opts();
  return { model: o.model, files: command.processedArgs[0] as string[], json: o.json, threads: o.threads };
}
