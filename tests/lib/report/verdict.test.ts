// The verdict rules: the thresholds in lib/src/report/verdict.ts, each side of each one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { report } from "@distill/lib";

const v = (meanKappa: number | null, ci: { low: number; high: number } | null = null, keywordKappa: number | null = null): string => report.studentVerdict({ meanKappa, ci, keywordKappa });

test("student verdict: at chance below kappa 0.1 or when the interval includes 0", () => {
  assert.equal(report.CHANCE_KAPPA, 0.1);
  assert.equal(v(0.09), "at chance");
  assert.equal(v(-0.2), "at chance");
  assert.equal(v(0.1), "learned");
  assert.equal(v(0.4, { low: 0, high: 0.8 }), "at chance", "an interval touching 0 is chance");
  assert.equal(v(0.4, { low: -0.1, high: 0.8 }), "at chance");
  assert.equal(v(0.4, { low: 0.01, high: 0.8 }), "learned");
});

test("student verdict: no better than the keyword rule when the keyword baseline's kappa is as high", () => {
  assert.equal(v(0.5, { low: 0.3, high: 0.6 }, 0.5), "no better than the keyword rule");
  assert.equal(v(0.5, { low: 0.3, high: 0.6 }, 0.7), "no better than the keyword rule");
  assert.equal(v(0.5, { low: 0.3, high: 0.6 }, 0.49), "learned");
  assert.equal(v(0.05, null, 0.5), "at chance", "chance comes first");
});

test("student verdict: not measured without a mean kappa", () => {
  assert.equal(v(null), "not measured");
  assert.equal(v(Number.NaN), "not measured");
});

test("teacher verdict against the reference labels: chance, near the human ceiling, or partly", () => {
  const t = (meanKappa: number | null, ceilingKappa: number | null): string => report.teacherVerdict({ meanKappa, ceilingKappa });
  assert.equal(t(null, 0.8), "not measured");
  assert.equal(t(0.05, 0.8), "at chance");
  assert.equal(t(0.73, 0.8), "close to human agreement", "0.73 >= 0.9 x 0.8");
  assert.equal(t(0.71, 0.8), "partly agrees");
  assert.equal(t(0.95, null), "partly agrees", "without a ceiling nothing is 'close to human'");
});
