// Numbers for reading on the run pages: significant figures, separators, units, no "-0.00", no 99.6% shown as 100%.
import assert from "node:assert/strict";
import { test } from "node:test";
import { report } from "@distill/lib";

const f = report.format;

test("num: 3 significant figures with thousands separators and a real minus", () => {
  assert.equal(f.num(4719.3), "4,720");
  assert.equal(f.num(2147248), "2,150,000");
  assert.equal(f.num(0.34), "0.34");
  assert.equal(f.num(0.0917), "0.0917");
  assert.equal(f.num(-0.007), "−0.007");
  assert.equal(f.num(0), "0");
  assert.equal(f.num(null), "—");
  assert.equal(f.num(Number.NaN), "—");
});

test("kappa, percent, dollars, durations and sizes", () => {
  assert.equal(f.fixed2(-0.001), "0.00");
  assert.equal(f.fixed2(-0.0123), "−0.01");
  assert.equal(f.percent(0.0917), "9.2%");
  assert.equal(f.percent(0.62), "62%");
  assert.equal(f.percent(0.996), "99.6%");
  assert.equal(f.percent(1), "100%");
  assert.equal(f.usd(4719.3), "$4,719");
  assert.equal(f.usd(26411.15), "$26,411");
  assert.equal(f.usd(39.74), "$39.7");
  assert.equal(f.usd(0.0000185), "$0.0000185");
  assert.equal(f.duration(42.4), "42 s");
  assert.equal(f.duration(510), "8.5 min");
  assert.equal(f.duration(7200), "2 h");
  assert.equal(f.bytes(9_800_000), "9.8 MB");
  assert.equal(f.bytes(512), "512 B");
});

test("count: exact below a million, in millions above", () => {
  assert.equal(f.count(2147248), "2.15 million");
  assert.equal(f.count(60), "60");
  assert.equal(f.count(12345), "12,345");
});
