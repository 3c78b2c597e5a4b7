// Teacher quality: a teacher's labels against reference labels where they overlap, and the inter-annotator ceiling.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { label, paths, task as taskLib } from "@distill/lib";

const twoBooleans = { fields: [{ name: "a", type: "boolean" }, { name: "b", type: "boolean" }] };
const L = (a: boolean, b: boolean) => ({ a, b });

// Worked out by hand (see each number's comment).
const reference: label.Reference = {
  file: "ref.jsonl",
  labels: new Map([["r1", L(true, true)], ["r2", L(true, false)], ["r3", L(false, false)], ["r4", L(false, true)], ["r5", L(true, false)]]),
  secondPass: new Map([["r1", L(true, true)], ["r2", L(false, false)]]),
};
const teacherRows = [
  { id: "r1", labels: L(true, true) },
  { id: "r2", labels: L(false, true) },
  { id: "r3", labels: L(false, true) },
  { id: "r4", labels: L(false, true) },
  { id: "r5", labels: null }, // the teacher failed here: left out, counted
  { id: "zz", labels: L(true, true) }, // no reference label: not scored
];

test("teacher quality arithmetic on a hand-made case", () => {
  const q = label.teacherQuality(twoBooleans as never, reference, [{ name: "t", role: "teacher", rows: teacherRows }]);
  const t = q.teachers[0];
  assert.equal(t.n, 4);
  assert.equal(t.failed, 1);
  // a: reference T T F F, teacher T F F F -> agreement 3/4; chance 0.5*0.25 + 0.5*0.75 = 0.5; kappa (0.75-0.5)/0.5 = 0.5
  assert.deepEqual(t.perField[0], { field: "a", agreement: 0.75, kappa: 0.5 });
  // b: reference T F F T, teacher T T T T -> agreement 2/4; chance 0.5*1 + 0.5*0 = 0.5; kappa 0
  assert.deepEqual(t.perField[1], { field: "b", agreement: 0.5, kappa: 0 });
  assert.equal(t.agreement, 0.625);
  assert.equal(t.meanKappa, 0.25);
  // Ceiling: second pass r1 T T, r2 F F against T T, T F. a: agreement 1/2, chance 1*0.5 = 0.5, kappa 0;
  // b: agreement 1, chance 0.5*0.5 + 0.5*0.5 = 0.5, kappa 1.
  assert.deepEqual(q.ceiling, { n: 2, agreement: 0.75, meanKappa: 0.5, perField: [{ field: "a", agreement: 0.5, kappa: 0 }, { field: "b", agreement: 1, kappa: 1 }] });
  const table = label.qualityTable(q);
  assert.deepEqual(table.map((r) => r.role), ["ceiling: inter-annotator agreement", "teacher"]);
  assert.equal(table[1].a, "0.75 / κ 0.50");
});

test("a teacher that shares no record with the reference is left out with a note; kappa undefined stays null", () => {
  const q = label.teacherQuality(twoBooleans as never, { ...reference, secondPass: null }, [
    { name: "elsewhere", role: "live check", rows: [{ id: "zz", labels: L(true, true) }] },
    { name: "constant", role: "teacher", rows: [{ id: "r1", labels: L(true, true) }, { id: "r2", labels: L(true, true) }] },
  ]);
  assert.equal(q.ceiling, null);
  assert.deepEqual(q.teachers.map((t) => t.name), ["constant"]);
  assert.match(q.notes[0], /elsewhere: labeled no record that has a reference label in ref\.jsonl/);
  // r1, r2: reference a = T T, teacher T T: both constant, chance agreement 1, kappa undefined.
  assert.equal(q.teachers[0].perField[0].kappa, null);
  assert.equal(q.teachers[0].meanKappa, 0, "only b's kappa (0) is defined");
});

test("readReference: the second pass beside the file; scoreTeachers skips the reference itself and scores the live check", async () => {
  const task = taskLib.loadTask("recipes");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reference-test-"));
  const yes = Object.fromEntries(task.fields.map((f) => [f.name, true]));
  const no = Object.fromEntries(task.fields.map((f) => [f.name, false]));
  const write = (name: string, rows: object[]) => fs.writeFileSync(path.join(dir, name), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  write("labels.jsonl", [{ id: "a", labels: yes }, { id: "b", labels: no }, { id: "c", labels: yes }]);
  write("second-pass.jsonl", [{ id: "a", labels: yes }, { id: "b", labels: yes }]);
  const ref = await label.readReference(task, path.join(dir, "labels.jsonl"));
  assert.equal(ref.labels.size, 3);
  assert.equal(ref.secondPass?.size, 2);

  const teacher = { config: { provider: "labels" as const, model: path.join(dir, "labels.jsonl") }, rows: [{ id: "a", labels: yes }] };
  const live = { config: { provider: "local" as const, model: "/x/SmolLM2.gguf" }, results: [{ id: "a", labels: no }, { id: "b", labels: no }, { id: "c" }] };
  const q = label.scoreTeachers(task, ref, teacher, live);
  assert.deepEqual(q.teachers.map((t) => [t.name, t.role, t.n, t.failed]), [["local:SmolLM2", "live check", 2, 1]]);
  assert.match(q.notes[0], /is the reference itself .*not scored against itself/);
  assert.equal(q.ceiling?.agreement, 0.5);

  write("labels.jsonl", [{ id: "a", labels: { ...yes, main_dish: "yes" } }]);
  await assert.rejects(label.readReference(task, path.join(dir, "labels.jsonl")), /Reference labels .*1 row\(s\) do not fit task "recipes":\n {2}- line 1 \(a\): field main_dish/);
});

test("liveCheckRecords: records with a reference label first, none when off or when the teacher is local already", () => {
  const recs = ["a", "b", "c", "d"].map((id) => ({ id, text: id, group: "g", title: id }));
  const ref: label.Reference = { file: "r", labels: new Map([["b", {}], ["d", {}]]), secondPass: null };
  const labels = { provider: "labels" as const, model: "x.jsonl" };
  assert.deepEqual(label.liveCheckRecords(recs, ref, labels, 5).map((r) => r.id), ["b", "d"]);
  assert.deepEqual(label.liveCheckRecords(recs, null, labels, 3).map((r) => r.id), ["a", "b", "c"]);
  assert.deepEqual(label.liveCheckRecords(recs, ref, labels, 0), []);
  assert.deepEqual(label.liveCheckRecords(recs, ref, { provider: "local", model: "m.gguf" }, 5), []);
});

test("the shipped reference's inter-annotator agreement is the README's: 0.984 overall, mean kappa 0.96", async () => {
  const task = taskLib.loadTask("recipes");
  const ref = await label.readReference(task, path.join(paths.dataDir, "reference-labels", "labels.jsonl"));
  const q = label.teacherQuality(task, ref, []);
  assert.equal(q.reference, "data/reference-labels/labels.jsonl");
  assert.equal(q.ceiling?.n, 100);
  assert.equal(q.ceiling?.agreement.toFixed(3), "0.984");
  assert.equal(q.ceiling?.meanKappa?.toFixed(2), "0.96");
  assert.deepEqual(q.ceiling?.perField.map((f) => f.kappa?.toFixed(2)), ["0.98", "0.98", "1.00", "0.87", "0.98"]);
});
