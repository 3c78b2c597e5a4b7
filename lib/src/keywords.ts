// Keyword rules: a baseline that needs no model, kept in the task file as data (`keyword_rules`), so a user's own task
// can define its own. Per field an ordered decision list: the first rule with a pattern that matches the record text
// gives the field's value (`then`), and when none matches the field takes its `default`. Patterns are regular
// expressions matched case-insensitively anywhere in the text (`^[^\n]*word` looks at the first line, the title).
//
// The Python task reader (python-runtime/distill_runtime/keyword_rules.py) validates and applies the same section;
// tests/lib/task-parity.test.ts holds the two to the same verdicts and the same labels. Patterns must mean the same
// in both dialects: plain classes, groups, alternation and quantifiers do; keep \b and \w next to ASCII letters only
// (JavaScript's \b counts é as a non-word character, Python's as a word character), and no named groups.
//
// This module knows nothing of task.ts (task.ts imports it): the task's fields come in as a plain list.
import { z } from "zod";

export type KeywordValue = boolean | string | number;

export interface KeywordRule {
  /** Why the rule exists (e.g. the guide's section): documentation only. */
  why?: string;
  then: KeywordValue;
  /** Regular expressions; the rule fires when any of them matches. */
  ifAny: string[];
}

export interface FieldRules {
  default: KeywordValue;
  rules: KeywordRule[];
}

export interface KeywordRules {
  about?: string;
  /** One entry per task field, in the task's field order. */
  fields: Record<string, FieldRules>;
}

const value = z.union([z.boolean(), z.string(), z.number()], { error: "must be a boolean, a string or a number" });

/** The shape of the task file's `keyword_rules` section (values are checked against the fields by keywordRulesProblems). */
export const keywordRulesFileSchema = z
  .object({
    about: z.string().optional(),
    fields: z.record(
      z.string(),
      z
        .object({
          default: value,
          rules: z.array(
            z
              .object({
                why: z.string().optional(),
                then: value,
                if_any: z.array(z.string().min(1, "a pattern must not be empty")).min(1, "if_any needs at least one pattern"),
              })
              .strict(),
          ),
        })
        .strict(),
    ),
  })
  .strict();

export type KeywordRulesFile = z.infer<typeof keywordRulesFileSchema>;

/** A task field as this module needs it. */
export interface KeywordField {
  name: string;
}

/**
 * Everything wrong with a parsed keyword_rules section, as "path: problem" lines: a field of the task with no entry,
 * an entry for a field the task does not have, a value the field cannot hold (checked by `invalidValue`, which says
 * why or returns null), a pattern that is not a valid regular expression. Empty when the section is good.
 */
export function keywordRulesProblems(raw: KeywordRulesFile, fields: readonly KeywordField[], invalidValue: (field: string, v: KeywordValue) => string | null): string[] {
  const problems: string[] = [];
  const names = fields.map((f) => f.name);
  for (const name of names) if (!(name in raw.fields)) problems.push(`keyword_rules.fields: no entry for field "${name}" (every field needs at least a default)`);
  for (const [name, spec] of Object.entries(raw.fields)) {
    const where = `keyword_rules.fields.${name}`;
    if (!names.includes(name)) {
      problems.push(`${where}: the task has no field "${name}" (its fields: ${names.join(", ")})`);
      continue;
    }
    const bad = invalidValue(name, spec.default);
    if (bad) problems.push(`${where}.default: ${bad}`);
    spec.rules.forEach((rule, i) => {
      const wrong = invalidValue(name, rule.then);
      if (wrong) problems.push(`${where}.rules[${i}].then: ${wrong}`);
      rule.if_any.forEach((pattern, j) => {
        try {
          new RegExp(pattern, "i");
        } catch (e) {
          problems.push(`${where}.rules[${i}].if_any[${j}]: not a valid regular expression (${(e as Error).message})`);
        }
      });
    });
  }
  return problems;
}

/** A checked section in the task's field order. */
export function keywordRulesFromFile(raw: KeywordRulesFile, fields: readonly KeywordField[]): KeywordRules {
  return {
    ...(raw.about !== undefined && { about: raw.about }),
    fields: Object.fromEntries(
      fields.map((f) => {
        const spec = raw.fields[f.name];
        return [f.name, { default: spec.default, rules: spec.rules.map((r) => ({ ...(r.why !== undefined && { why: r.why }), then: r.then, ifAny: r.if_any })) }];
      }),
    ),
  };
}

type Compiled = [name: string, fallback: KeywordValue, rules: [patterns: RegExp[], then: KeywordValue][]][];
const compiledRules = new WeakMap<KeywordRules, Compiled>();

function compile(rules: KeywordRules): Compiled {
  let compiled = compiledRules.get(rules);
  if (!compiled) {
    compiled = Object.entries(rules.fields).map(([name, f]) => [name, f.default, f.rules.map((r) => [r.ifAny.map((p) => new RegExp(p, "i")), r.then])]);
    compiledRules.set(rules, compiled);
  }
  return compiled;
}

/** The labels the rules give one record text: per field, the first matching rule's value, else the default. */
export function applyKeywordRules(rules: KeywordRules, text: string): Record<string, KeywordValue> {
  const labels: Record<string, KeywordValue> = {};
  for (const [name, fallback, decisions] of compile(rules)) {
    labels[name] = decisions.find(([patterns]) => patterns.some((p) => p.test(text)))?.[1] ?? fallback;
  }
  return labels;
}
