// The event contract with the Python runtime (python-runtime/distill_runtime/events.py): `python -m distill_runtime
// <job> --config <file.json>` writes one JSON event per stdout line. Every line is validated here against the same
// shapes (extra keys are errors on both sides); an unknown event type or a malformed event is an error.
import { z } from "zod";

const base = { event: z.string(), time: z.number() };
const nullableNumber = z.number().nullable().optional();

export const StartEventSchema = z.strictObject({
  ...base,
  event: z.literal("start"),
  job: z.string(),
  config: z.record(z.string(), z.unknown()),
  device: z.string(),
  params_total: z.int().nullable().optional(),
  params_trainable: z.int().nullable().optional(),
  info: z.record(z.string(), z.unknown()).default({}),
});
export const StepEventSchema = z.strictObject({
  ...base,
  event: z.literal("step"),
  step: z.int(),
  total_steps: z.int(),
  epoch: z.number(),
  loss: z.number(),
  lr: z.number(),
  grad_norm: nullableNumber,
  tokens_per_s: z.number(),
  samples_per_s: z.number(),
  memory_mb: nullableNumber,
});
export const EvalEventSchema = z.strictObject({ ...base, event: z.literal("eval"), step: z.int(), eval_loss: z.number() });
export const CheckpointEventSchema = z.strictObject({ ...base, event: z.literal("checkpoint"), step: z.int(), path: z.string() });
export const ProgressEventSchema = z.strictObject({
  ...base,
  event: z.literal("progress"),
  done: z.int(),
  total: z.int(),
  records_per_s: z.number(),
  tokens_per_s: nullableNumber,
  /** The label-corpus job: seconds left at the current rate, and the whole corpus's cost at that rate. */
  eta_s: nullableNumber,
  projected_cost_usd: nullableNumber,
});
export const DoneEventSchema = z.strictObject({
  ...base,
  event: z.literal("done"),
  job: z.string(),
  runtime_s: z.number(),
  outputs: z.record(z.string(), z.unknown()).default({}),
  metrics: z.record(z.string(), z.unknown()).default({}),
});
export const errorKinds = ["config", "data", "oom", "nan", "missing_package", "cancelled", "runtime"] as const;
export const ErrorEventSchema = z.strictObject({
  ...base,
  event: z.literal("error"),
  kind: z.enum(errorKinds),
  message: z.string(),
  hint: z.string().nullable().optional(),
});
export const JobEventSchema = z.discriminatedUnion("event", [
  StartEventSchema,
  StepEventSchema,
  EvalEventSchema,
  CheckpointEventSchema,
  ProgressEventSchema,
  DoneEventSchema,
  ErrorEventSchema,
]);

export type StartEvent = z.infer<typeof StartEventSchema>;
export type StepEvent = z.infer<typeof StepEventSchema>;
export type EvalEvent = z.infer<typeof EvalEventSchema>;
export type CheckpointEvent = z.infer<typeof CheckpointEventSchema>;
export type ProgressEvent = z.infer<typeof ProgressEventSchema>;
export type DoneEvent = z.infer<typeof DoneEventSchema>;
export type ErrorEvent = z.infer<typeof ErrorEventSchema>;
export type JobEvent = z.infer<typeof JobEventSchema>;
export type JobName = "train" | "merge" | "infer" | "export" | "tokens" | "label-corpus" | "encode";

/** Parse and validate one stdout line. Throws an Error that quotes the line and says what is wrong. */
export function parseEventLine(line: string): JobEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new Error(`invalid event line (not JSON: ${(e as Error).message}): ${clip(line)}`);
  }
  const type = (value as { event?: unknown } | null)?.event;
  const known = JobEventSchema.options.map((o) => o.shape.event.value as string);
  if (typeof type !== "string" || !known.includes(type)) {
    throw new Error(`unknown event type ${JSON.stringify(type)} (expected one of ${known.join(", ")}): ${clip(line)}`);
  }
  const result = JobEventSchema.safeParse(value);
  if (!result.success) throw new Error(`invalid ${type} event: ${z.prettifyError(result.error).replace(/\n/g, "; ")}: ${clip(line)}`);
  return result.data;
}

function clip(s: string, n = 200): string {
  return s.length > n ? s.slice(0, n) + "…" : s;
}
