// Baselines that need no model (majority class, the task file's keyword rules) and the mean kappa's interval.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { corpus, inference, paths, task as taskLib } from "@distill/lib";

const recipes = taskLib.loadTask("recipes");
const reference = fs
  .readFileSync(path.join(paths.dataDir, "reference-labels", "labels.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as { id: string; group: string; title: string; text: string; labels: taskLib.Labels });
// The default profile's split of the reference (notebook 1: testFraction 0.25, seed 42, whole books held out).
const split = corpus.splitTrainTest(reference, { testFraction: 0.25, seed: 42, holdOutGroups: true });

test("the reference splits 887 train / 313 test, 8 held-out books", () => {
  assert.equal(split.train.length, 887);
  assert.equal(split.test.length, 313);
  assert.equal(new Set(split.test.map((r) => r.group)).size, 8);
  assert.ok(!split.test.some((r) => split.train.some((t) => t.group === r.group)));
});

test("keyword rules on the reference's test split: the research evaluator's kappas to 3 decimals; majority class kappa 0", () => {
  const [majority, keyword] = inference.modelFreeBaselines(recipes, split.train, split.test);
  assert.equal(keyword.kind, "keyword");
  const kappas = keyword.evaluation!.perField.map((f) => f.kappa.value!.toFixed(3));
  // the rules' author's own evaluator (Python's re) on the test split.
  assert.deepEqual(kappas, ["0.932", "0.808", "0.858", "0.388", "0.583"]);
  assert.deepEqual(keyword.evaluation!.perField.map((f) => f.agreement.toFixed(3)), ["0.968", "0.920", "0.946", "0.738", "0.834"]);
  assert.equal(inference.meanKappa(keyword.evaluation!)!.toFixed(3), "0.714");
  assert.equal(majority.kind, "majority");
  assert.deepEqual(majority.evaluation!.perField.map((f) => f.agreement.toFixed(3)), ["0.633", "0.703", "0.744", "0.706", "0.725"]);
  assert.ok(majority.evaluation!.perField.every((f) => f.kappa.value === 0));
  assert.match(majority.note, /887 train records: has_non_fish_meat=false, requires_oven=false, requires_stove=true, cook_time_over_30_mins=true, main_dish=false/);
  const results = inference.baselineResults([majority, keyword]);
  assert.deepEqual(results.map((r) => [r.name, r.kind, r.meanKappa?.toFixed(3)]), [["majority class", "majority", "0.000"], ["keyword rules", "keyword", "0.714"]]);
  assert.equal(results[1].perField?.[0].kappa?.toFixed(3), "0.932");
});

test("keyword rules on the train split (where they were written) and on all 1,200 recipes: the research evaluator's figures", () => {
  const kappas = (rows: typeof reference) => inference.keywordBaseline(recipes, rows)!.evaluation!.perField.map((f) => f.kappa.value!.toFixed(3));
  // keywords_eval.py train, and keywords_eval.py all.
  assert.deepEqual(kappas(split.train), ["0.879", "0.798", "0.737", "0.351", "0.667"]);
  assert.deepEqual(kappas(reference), ["0.893", "0.801", "0.770", "0.360", "0.645"]);
});

test("majorityLabels: the most frequent value per field; ties go to the first class (false, the enum's order)", () => {
  const mixed = taskLib.loadTask(path.join(paths.root, "tests", "fixtures", "tasks", "mixed.json"));
  const rows = [
    { labels: { cuisine: "indian", servings: 2, summary: "x", vegetarian: true } },
    { labels: { cuisine: "french", servings: 4, summary: "y", vegetarian: false } },
    { labels: { cuisine: "indian", servings: 4, summary: "x", vegetarian: true } },
    { labels: { cuisine: "french", servings: 4, summary: "z", vegetarian: false } },
    { labels: null },
  ];
  assert.deepEqual(inference.majorityLabels(mixed, rows), { cuisine: "french", servings: 4, summary: "x", vegetarian: false });
  assert.throws(() => inference.majorityLabels(mixed, [{ labels: null }]), /no labeled rows/);
  assert.equal(inference.keywordBaseline(taskLib.loadTask(path.join(paths.root, "tests", "fixtures", "tasks", "edge.json")), []), null, "a task without keyword_rules has no keyword baseline");
});

test("meanKappaInterval: seeded, brackets the estimate, [1, 1] for a perfect student, null without resamples", () => {
  const keyword = inference.keywordBaseline(recipes, split.test)!.evaluation!;
  const ci = inference.meanKappaInterval(recipes, keyword)!;
  const k = inference.meanKappa(keyword)!;
  assert.ok(ci.low < k && k < ci.high, `${ci.low} < ${k} < ${ci.high}`);
  assert.ok(ci.high - ci.low > 0.02 && ci.high - ci.low < 0.2, "a plausible width for 313 records");
  assert.deepEqual(inference.meanKappaInterval(recipes, keyword), ci, "same seed, same interval");
  assert.notDeepEqual(inference.meanKappaInterval(recipes, keyword, { seed: 7 }), ci);
  const teacher = split.test.map((r) => ({ id: r.id, labels: r.labels }));
  const perfect = inference.evaluateAgreement(recipes, teacher, teacher);
  assert.deepEqual(inference.meanKappaInterval(recipes, perfect), { low: 1, high: 1 });
  // A student that cannot be parsed at all: every kappa is 0 (it never gives a valid answer), the interval too.
  const silent = inference.evaluateAgreement(recipes, teacher, teacher.map((t) => ({ id: t.id, labels: null })));
  assert.deepEqual(inference.meanKappaInterval(recipes, silent), { low: 0, high: 0 });
  assert.equal(inference.meanKappaInterval(recipes, keyword, { resamples: 0 }), null);
});

test("meanKappaInterval recomputes kappa the way evaluateAgreement does (hand-made case with a parse failure)", () => {
  const twoBooleans = { fields: [{ name: "a", type: "boolean" }, { name: "b", type: "boolean" }] };
  const teacher = [
    { id: "r1", labels: { a: true, b: true } },
    { id: "r2", labels: { a: true, b: false } },
    { id: "r3", labels: { a: false, b: false } },
    { id: "r4", labels: { a: false, b: true } },
  ];
  const student = [
    { id: "r1", labels: { a: true, b: true } },
    { id: "r2", labels: { a: false, b: "no" } },
    { id: "r3", labels: null },
    { id: "r4", labels: { a: false, b: true } },
  ];
  const e = inference.evaluateAgreement(twoBooleans, teacher, student as never);
  // With 4000 resamples the bootstrap median sits near the estimate, and no resample gets outside [-1, 1].
  const wide = inference.meanKappaInterval(twoBooleans, e, { resamples: 4000, confidence: 0.999 })!;
  assert.ok(wide.low >= -1 && wide.high <= 1);
  const narrow = inference.meanKappaInterval(twoBooleans, e, { resamples: 4000, confidence: 0.01 })!;
  const k = inference.meanKappa(e)!;
  assert.ok(Math.abs((narrow.low + narrow.high) / 2 - k) < 0.15, `median ${narrow.low}..${narrow.high} near ${k}`);
});
