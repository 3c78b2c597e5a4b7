// The infer job's output file read back as typed predictions, and joined to the rows it labeled.
//
// Output JSONL (one line per input line, in input order):
//   {"index", "id"?, "completion", "labels" | null, "error" | null, "input_tokens", "output_tokens", "margins"?}
// labels is null when the completion is not JSON or does not fit the task; error then says why.
import * as fs from "node:fs";
import { z } from "zod";
import * as paths from "../paths";

const PredictionLine = z.strictObject({
  index: z.int().min(0),
  id: z.string().optional(),
  completion: z.string(),
  labels: z.record(z.string(), z.union([z.boolean(), z.string(), z.number()])).nullable(),
  error: z.string().nullable(),
  input_tokens: z.int().min(0),
  output_tokens: z.int().min(0),
  /** Constrained decoding: per boolean field, logprob(true) - logprob(false) (a confidence; calibration shifts its zero). */
  margins: z.record(z.string(), z.number()).optional(),
});

export interface Prediction {
  index: number;
  id?: string;
  completion: string;
  labels: Record<string, boolean | string | number> | null;
  error: string | null;
  inputTokens: number;
  outputTokens: number;
  margins?: Record<string, number>;
}

/** Read an infer output file. A malformed line is an error naming the file and line. */
export function readPredictions(file: string): Prediction[] {
  const resolved = paths.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(resolved, "utf8");
  } catch (e) {
    throw new Error(`cannot read predictions ${resolved}: ${(e as Error).message}`);
  }
  const predictions: Prediction[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new Error(`${resolved}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    const parsed = PredictionLine.safeParse(value);
    if (!parsed.success) throw new Error(`${resolved}:${i + 1}: not a prediction: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
    const p = parsed.data;
    predictions.push({
      index: p.index,
      ...(p.id !== undefined ? { id: p.id } : {}),
      completion: p.completion,
      labels: p.labels,
      error: p.error,
      inputTokens: p.input_tokens,
      outputTokens: p.output_tokens,
      ...(p.margins !== undefined ? { margins: p.margins } : {}),
    });
  });
  return predictions;
}

/**
 * Predictions as agreement.evaluateAgreement's student rows. The id is ids[index] when ids are given (test.jsonl has
 * no ids: its lines are in the order of the test rows), else the prediction's own id, else its index as a string.
 */
export function studentRows(
  predictions: readonly Prediction[],
  ids?: readonly string[],
): { id: string; labels: Prediction["labels"]; error: string | null }[] {
  if (ids && ids.length !== predictions.length) {
    throw new Error(`studentRows: ${predictions.length} predictions but ${ids.length} ids; pass the ids of the rows in the infer input, in order`);
  }
  return predictions.map((p) => {
    const id = ids ? ids[p.index] : (p.id ?? String(p.index));
    if (id === undefined) throw new Error(`studentRows: prediction index ${p.index} has no id (${ids!.length} ids given)`);
    return { id, labels: p.labels, error: p.error };
  });
}
