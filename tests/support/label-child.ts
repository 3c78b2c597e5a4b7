// Child process for the kill test: labels records through an OpenAI-compatible server into an answer store, then
// writes the results. The parent SIGKILLs it at random instants and starts it again.
// Usage: node label-child.js <job.json>  with job { baseURL, model, storeFile, recordsFile, outFile, concurrency }
// Prints "ready" once the store is open (the parent times its kills from there).
import * as fs from "node:fs";
import { label, prices, task } from "@distill/lib";

interface Job {
  baseURL: string;
  model: string;
  storeFile: string;
  recordsFile: string;
  outFile: string;
  concurrency: number;
}

async function main(): Promise<void> {
  const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8")) as Job;
  const records = JSON.parse(fs.readFileSync(job.recordsFile, "utf8"));
  const answers = label.AnswerStore.open(job.storeFile);
  process.stdout.write("ready\n");
  const run = await label.labelRecords(
    task.loadTask("recipes"),
    records,
    { provider: "openai", model: job.model, baseURL: job.baseURL, concurrency: job.concurrency, retryBaseMs: 10 },
    { store: answers, prices: prices.loadPrices() },
  );
  await answers.close();
  fs.writeFileSync(job.outFile, JSON.stringify(run.results.map((r) => ({ id: r.id, status: r.status, labels: r.labels ?? null }))));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
