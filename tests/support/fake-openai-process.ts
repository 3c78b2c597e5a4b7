// The fake OpenAI server (fake-openai.ts) in a process of its own, so that a benchmark's client and server do not
// share one Node thread: with both in one process, the server's JSON work would count against the client's speed.
//
// Parent side: `const server = await startFakeOpenAIProcess({ delayMs: 200 })`, then point the SDK at server.url;
// server.stats() gives what the server saw, server.reset() clears it, server.stop() ends the process.
// Child side: this same file run with fork(); it answers "stats" and "reset" messages over the IPC channel.
import { fork, type ChildProcess } from "node:child_process";
import { startFakeOpenAI } from "./fake-openai";

/** What can cross a process boundary of FakeOpenAIOptions (no functions). */
export interface FakeOpenAIProcessOptions {
  /** Latency of every answer, ms. */
  delayMs?: number;
}

export interface FakeOpenAIStats {
  requests: number;
  maxInFlight: number;
  inFlight: number;
  /** CPU seconds the server process has used so far. */
  cpuSeconds: number;
}

export interface FakeOpenAIProcess {
  url: string;
  pid: number;
  stats(): Promise<FakeOpenAIStats>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

type Request = { id: number; type: "stats" | "reset" };
type Reply = { id: number; stats?: FakeOpenAIStats };

export async function startFakeOpenAIProcess(options: FakeOpenAIProcessOptions = {}): Promise<FakeOpenAIProcess> {
  const child: ChildProcess = fork(__filename, ["--serve", JSON.stringify(options)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiting = new Map<number, (reply: Reply) => void>();
  let nextId = 1;
  const url = await new Promise<string>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`fake OpenAI server process exited (code ${code}) before it was ready`)));
    child.once("message", (m) => resolve((m as { url: string }).url));
  });
  child.on("message", (m) => {
    const reply = m as Reply;
    waiting.get(reply.id)?.(reply);
    waiting.delete(reply.id);
  });
  const ask = (type: Request["type"]) =>
    new Promise<Reply>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      child.send({ id, type } satisfies Request);
    });
  return {
    url,
    pid: child.pid!,
    stats: async () => (await ask("stats")).stats!,
    reset: async () => void (await ask("reset")),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

async function serve(options: FakeOpenAIProcessOptions): Promise<void> {
  const fake = await startFakeOpenAI({ delayMs: options.delayMs ?? 0 });
  const cpuAtStart = process.cpuUsage();
  process.on("message", (m) => {
    const request = m as Request;
    if (request.type === "reset") fake.reset();
    const cpu = process.cpuUsage(cpuAtStart);
    const stats: FakeOpenAIStats = { requests: fake.requests.length, maxInFlight: fake.maxInFlight, inFlight: fake.inFlight, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
    process.send!({ id: request.id, stats } satisfies Reply);
  });
  // The parent going away (its IPC channel closing) ends this process too.
  process.on("disconnect", () => void fake.stop().then(() => process.exit(0)));
  process.on("SIGTERM", () => void fake.stop().then(() => process.exit(0)));
  process.send!({ url: fake.url });
}

if (require.main === module && process.argv[2] === "--serve") {
  serve(JSON.parse(process.argv[3] ?? "{}") as FakeOpenAIProcessOptions).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
