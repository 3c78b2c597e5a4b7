import { test } from "node:test";
import assert from "node:assert/strict";
import { inference as evaluate } from "@distill/lib";

const { evaluateAgreement, disagreements, randomPicks, agreementByGroup, comparisonTable, seededRandom } = evaluate;

const twoBooleans = { fields: [{ name: "a", type: "boolean" }, { name: "b", type: "boolean" }] };

// Four records worked out by hand (see the numbers in each assertion).
const teacher = [
  { id: "r1", labels: { a: true, b: true } },
  { id: "r2", labels: { a: true, b: false } },
  { id: "r3", labels: { a: false, b: false } },
  { id: "r4", labels: { a: false, b: true } },
];
const student: evaluate.StudentRow[] = [
  { id: "r4", labels: { a: false, c: 1 } }, // b missing, c extra: matches a only
  { id: "r1", labels: { a: true, b: true } }, // both match
  { id: "r3", labels: null, error: "Expecting value: line 1 column 1" }, // parse failure: no match
  { id: "r2", labels: { a: false, b: false } }, // b matches
];

function assertNoNaN(value: unknown, where = "evaluation"): void {
  if (typeof value === "number") assert.ok(Number.isFinite(value), `${where} is ${value}`);
  else if (Array.isArray(value)) value.forEach((v, i) => assertNoNaN(v, `${where}[${i}]`));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) assertNoNaN(v, `${where}.${k}`);
}

test("hand-computed case: parse failure, missing and extra fields", () => {
  const e = evaluateAgreement(twoBooleans, teacher, student, { resamples: 200, seed: 1 });
  // Per record: 2/2, 1/2, 0/2, 1/2 -> mean 0.5 (the original's metric) = 4 of 8 fields.
  assert.equal(e.records, 4);
  assert.equal(e.agreement, 0.5);
  assert.equal(e.exactMatch, 0.25);
  assert.equal(e.parseFailures, 1);
  assert.equal(e.parseFailureRate, 0.25);
  assert.deepEqual(e.extraFields, { c: 1 });
  assert.deepEqual(e.perRecord.map((r) => [r.id, r.agreement, r.disagree]), [
    ["r1", 1, []],
    ["r2", 0.5, ["a"]],
    ["r3", 0, ["a", "b"]],
    ["r4", 0.5, ["b"]],
  ]);
  assert.equal(e.perRecord[2].error, "Expecting value: line 1 column 1");

  const [a, b] = e.perField;
  assert.equal(a.agreement, 0.5);
  assert.deepEqual(a.confusion, { classes: ["false", "true"], counts: [[1, 0], [1, 1]], noAnswer: [1, 0] });
  // p_e = P_t(false) P_s(false) + P_t(true) P_s(true) = 0.5*0.5 + 0.5*0.25 = 0.375; kappa = 0.125/0.625 = 0.2
  assert.ok(Math.abs(a.kappa.value! - 0.2) < 1e-12);
  assert.equal(a.precision.value, 1); // 1 true positive / 1 student true
  assert.equal(a.recall.value, 0.5); // 1 / 2 teacher true
  assert.equal(a.teacherRate.value, 0.5);
  assert.ok(Math.abs(a.studentRate.value! - 1 / 3) < 1e-12); // 1 true of 3 valid answers
  assert.equal(a.missing, 0);
  assert.equal(a.invalid, 0);

  assert.equal(b.agreement, 0.5);
  assert.deepEqual(b.confusion, { classes: ["false", "true"], counts: [[1, 0], [0, 1]], noAnswer: [1, 1] });
  // p_e = 0.5*0.25 + 0.5*0.25 = 0.25; kappa = 0.25/0.75 = 1/3
  assert.ok(Math.abs(b.kappa.value! - 1 / 3) < 1e-12);
  assert.equal(b.precision.value, 1);
  assert.equal(b.recall.value, 0.5);
  assert.equal(b.studentRate.value, 0.5);
  assert.equal(b.missing, 1);
  assertNoNaN(e);
});

test("all-equal labels: kappa is null with a reason, never NaN", () => {
  const task = { fields: [{ name: "a", type: "boolean" }] };
  const t = [1, 2, 3].map((i) => ({ id: `r${i}`, labels: { a: true } }));
  const same = evaluateAgreement(task, t, t.map((r) => ({ ...r })), { resamples: 50 });
  assert.equal(same.agreement, 1);
  assert.equal(same.perField[0].kappa.value, null);
  assert.match(same.perField[0].kappa.reason!, /same label/);
  // Teacher all true, student never true: precision undefined, recall 0.
  const never = evaluateAgreement(task, t, t.map((r) => ({ id: r.id, labels: { a: false } })), { resamples: 50 });
  assert.equal(never.agreement, 0);
  assert.equal(never.perField[0].kappa.value, 0); // p_e = 1*0 = 0, p_o = 0
  assert.equal(never.perField[0].precision.value, null);
  assert.match(never.perField[0].precision.reason!, /never answers true/);
  assert.equal(never.perField[0].recall.value, 0);
  // Every output unparseable: no valid answers at all.
  const broken = evaluateAgreement(task, t, t.map((r) => ({ id: r.id, labels: null })), { resamples: 50 });
  assert.equal(broken.parseFailureRate, 1);
  assert.equal(broken.perField[0].studentRate.value, null);
  assert.equal(broken.perField[0].kappa.value, 0);
  for (const e of [same, never, broken]) {
    assertNoNaN(e);
    assert.doesNotMatch(JSON.stringify(e), /NaN|null,"reason":undefined/);
  }
});

test("enum field: k x k confusion, out-of-enum values count as invalid", () => {
  const task = { fields: [{ name: "course", type: "enum", values: ["main", "side", "dessert"] }] };
  const t = [
    { id: "1", labels: { course: "main" } },
    { id: "2", labels: { course: "side" } },
    { id: "3", labels: { course: "dessert" } },
    { id: "4", labels: { course: "main" } },
  ];
  const s = [
    { id: "1", labels: { course: "main" } },
    { id: "2", labels: { course: "main" } },
    { id: "3", labels: { course: "cake" } },
    { id: "4", labels: { course: "main" } },
  ];
  const e = evaluateAgreement(task, t, s, { resamples: 0 });
  const f = e.perField[0];
  assert.equal(f.agreement, 0.5);
  assert.deepEqual(f.confusion.counts, [[2, 0, 0], [1, 0, 0], [0, 0, 0]]);
  assert.deepEqual(f.confusion.noAnswer, [0, 0, 1]);
  assert.equal(f.invalid, 1);
  // p_e = P_t(main) P_s(main) = 0.5 * 0.75 = 0.375; kappa = (0.5 - 0.375) / 0.625 = 0.2
  assert.ok(Math.abs(f.kappa.value! - 0.2) < 1e-12);
  assert.equal(f.precision.value, null);
  assert.equal(e.ci, null); // resamples 0 turns intervals off
});

test("a boolean given as a string is invalid, not equal", () => {
  const task = { fields: [{ name: "a", type: "boolean" }] };
  const e = evaluateAgreement(task, [{ id: "x", labels: { a: true } }], [{ id: "x", labels: { a: "true" } }], { resamples: 0 });
  assert.equal(e.agreement, 0);
  assert.equal(e.perField[0].invalid, 1);
});

test("ids must match: the error names the missing ones", () => {
  assert.throws(
    () => evaluateAgreement(twoBooleans, teacher, student.filter((s) => s.id !== "r2" && s.id !== "r3")),
    /2 teacher ids have no student prediction: "r2", "r3"/,
  );
  assert.throws(
    () => evaluateAgreement(twoBooleans, teacher, [...student, { id: "zz", labels: null }]),
    /1 student ids have no teacher label: "zz"/,
  );
  assert.throws(() => evaluateAgreement(twoBooleans, teacher, [...student, student[0]]), /duplicate ids: "r4"/);
  assert.throws(
    () => evaluateAgreement(twoBooleans, [{ id: "r1", labels: { a: true } }], [{ id: "r1", labels: null }]),
    /teacher row "r1": field b must be a valid boolean, got undefined/,
  );
  const failed = { id: "r1", labels: null as unknown as evaluate.Labels };
  assert.throws(() => evaluateAgreement(twoBooleans, [failed], [{ id: "r1", labels: null }]), /teacher row "r1" has no labels/);
});

function randomCase(n: number, seed: number) {
  const random = seededRandom(seed);
  const t = [];
  const s = [];
  for (let i = 0; i < n; i++) {
    const labels = { a: random() < 0.4, b: random() < 0.7 };
    t.push({ id: `r${i}`, labels });
    const flip = (v: boolean) => (random() < 0.15 ? !v : v);
    s.push({ id: `r${i}`, labels: random() < 0.05 ? null : { a: flip(labels.a), b: flip(labels.b) } });
  }
  return { t, s };
}

test("bootstrap: same seed, same interval; the interval holds the point estimate", () => {
  const { t, s } = randomCase(300, 7);
  const one = evaluateAgreement(twoBooleans, t, s, { seed: 3 });
  const two = evaluateAgreement(twoBooleans, t, s, { seed: 3 });
  const other = evaluateAgreement(twoBooleans, t, s, { seed: 4 });
  assert.deepEqual(one.ci, two.ci);
  assert.deepEqual(one.perField.map((f) => f.ci), two.perField.map((f) => f.ci));
  // The seed is used: with few resamples the percentiles of two seeds differ (1000 resamples round to the same).
  const few = (seed: number) => evaluateAgreement(twoBooleans, t, s, { seed, resamples: 25 }).perField.map((f) => f.ci);
  assert.notDeepEqual(few(3), few(4));
  for (const e of [one, other]) {
    assert.ok(e.ci!.low <= e.agreement && e.agreement <= e.ci!.high, JSON.stringify([e.ci, e.agreement]));
    assert.ok(e.ci!.high - e.ci!.low > 0.01 && e.ci!.high - e.ci!.low < 0.2);
    for (const f of e.perField) assert.ok(f.ci!.low <= f.agreement && f.agreement <= f.ci!.high);
  }
  assert.equal(one.bootstrap.resamples, 1000);
});

test("randomPicks is seeded, distinct and bounded", () => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  const five = randomPicks(items, 5, 42);
  assert.deepEqual(five, randomPicks(items, 5, 42));
  assert.notDeepEqual(five, randomPicks(items, 5, 43));
  assert.equal(new Set(five).size, 5);
  assert.equal(randomPicks(items, 80, 1).length, 50);
  assert.deepEqual(randomPicks([], 5, 1), []);
});

test("disagreements: text and both labels, filter by field, seeded picks", () => {
  const e = evaluateAgreement(twoBooleans, teacher, student, { resamples: 0 });
  const rows = teacher.map((t) => ({ id: t.id, text: `recipe ${t.id}` }));
  const all = disagreements(twoBooleans, rows, e);
  assert.deepEqual(all.map((d) => d.id), ["r2", "r3", "r4"]);
  assert.deepEqual(all[0], { id: "r2", text: "recipe r2", fields: ["a"], teacher: teacher[1].labels, student: { a: false, b: false }, error: null });
  assert.deepEqual(disagreements(twoBooleans, rows, e, { field: "b" }).map((d) => d.id), ["r3", "r4"]);
  const picked = disagreements(twoBooleans, rows, e, { limit: 2, seed: 5 });
  assert.equal(picked.length, 2);
  assert.deepEqual(picked, disagreements(twoBooleans, rows, e, { limit: 2, seed: 5 }));
  assert.throws(() => disagreements(twoBooleans, rows, e, { field: "nope" }), /unknown field "nope"; the task's fields are a, b/);
  assert.throws(() => disagreements(twoBooleans, rows.slice(0, 2), e), /no text for 2 evaluated ids: "r3", "r4"/);
});

test("agreementByGroup and comparisonTable", () => {
  const e = evaluateAgreement(twoBooleans, teacher, student, { resamples: 100 });
  const groups = agreementByGroup(e, [
    { id: "r1", group: "book A" },
    { id: "r2", group: "book A" },
    { id: "r3", group: "book B" },
    { id: "r4", group: "book A" },
  ]);
  assert.deepEqual(groups.map((g) => [g.group, g.records, g.agreement, g.parseFailures]), [
    ["book A", 3, 2 / 3, 0],
    ["book B", 1, 0, 1],
  ]);
  assert.deepEqual(groups[0].perField, { a: 2 / 3, b: 2 / 3 });
  assert.throws(() => agreementByGroup(e, [{ id: "r1", group: "x" }]), /no group for 3 evaluated ids/);

  const perfect = evaluateAgreement(twoBooleans, teacher, teacher, { resamples: 100 });
  const table = comparisonTable([
    { name: "student", evaluation: e },
    { name: "teacher itself", evaluation: perfect },
  ]);
  assert.deepEqual(Object.keys(table[0]), ["model", "records", "agreement", "ci_low", "ci_high", "exact_match", "a", "b", "mean_kappa", "parse_failures", "parse_failure_rate"]);
  assert.equal(table[0].agreement, 0.5);
  assert.ok(Math.abs((table[0].mean_kappa as number) - (0.2 + 1 / 3) / 2) < 1e-12);
  assert.equal(table[0].parse_failures, 1);
  assert.equal(table[1].agreement, 1);
  assert.equal(table[1].mean_kappa, 1);
  assert.equal(table[1].ci_low, 1);
});
