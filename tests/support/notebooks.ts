// Helpers for tests that execute notebooks headless.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { paths } from "@distill/lib";

export const cli = (name: string): string => path.join(paths.root, "lib", "dist", "cli", `${name}.js`);

export function runCli(name: string, args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli(name), ...args], { cwd: paths.root, encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `distill-${prefix}-`));
}

/** Every file under a folder (recursive), for scanning what a run wrote. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
}

/** Parts of an executed notebook that legitimately differ between runs (progress rates) are masked. */
export function stableHtml(html: string): string {
  return html.replace(/<div data-volatile="progress"[\s\S]*?<\/div><\/div>[^<]*<\/div>/g, "<progress/>");
}

export function chromiumPath(): string | null {
  for (const p of [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]) {
    if (p && fs.existsSync(p)) return p;
  }
  return null;
}
