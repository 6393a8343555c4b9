// The screenshots of docs/serve.md and the README: `textgan serve models docs` in headless
// Chromium — a 3-minute run of the default command (models/wordnet-3min, which
// scripts/screenshots.sh trains first) opened, the shipped model overlaid, and a compare report
// under docs/. Also prints the time to the first complete page and to generating 100 samples.
//   node tests/browser/screenshots.mjs [OUT_DIR]   (scripts/screenshots.sh builds and runs it)
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchBrowser, startServer } from "./harness.mjs";

const out = process.argv[2] ?? "docs/img";
mkdirSync(out, { recursive: true });
const server = await startServer(["models", "docs"]);
const browser = await launchBrowser();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
  const t0 = performance.now();
  await page.goto(server.url + "#run=0%2Fwordnet-3min");
  await page.waitForFunction(() => document.querySelectorAll("#charts .uplot").length === 5
    && document.querySelectorAll("#samples li").length === 64);
  const firstPage = performance.now() - t0;
  // The shipped model overlaid (it predates the recorded losses: two of its curves only).
  await page.click('#runs tr[data-id="0/wordnet-small"] input[type=checkbox]');
  await page.waitForFunction(() => document.querySelectorAll("#charts .u-series").length > 8);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(out, "serve-runs.png") });
  // The samples at the evaluation a fifth of the way in: the same noise, less trained.
  const n = await page.$eval("#slider", (s) => Number(s.max));
  await page.$eval("#slider", (s, v) => { s.value = v; s.dispatchEvent(new Event("input")); }, String(Math.round(n / 5)));
  await page.waitForTimeout(300);
  const samples = await page.$("#slider");
  await (await samples.evaluateHandle((s) => s.closest(".panel"))).asElement().screenshot({ path: join(out, "serve-samples.png") });
  await page.fill("#gen-n", "100");
  await page.fill("#gen-seed", "7");
  const t1 = performance.now();
  await page.click("#gen-go");
  await page.waitForFunction(() => document.querySelectorAll("#gen-out li").length === 100);
  const generated = performance.now() - t1;
  await page.fill("#gen-n", "8");
  await page.click("#gen-go");
  await page.waitForFunction(() => document.querySelectorAll("#gen-out li").length === 8);
  await page.click("#gen-out li:nth-child(2) button[title='walk from this sample']");
  await page.click("#gen-out li:nth-child(6) button[title='walk to this sample']");
  await page.fill("#walk-steps", "10");
  await page.click("#walk-go");
  await page.waitForFunction(() => document.querySelectorAll("#walk-out tr").length === 11);
  const walk = await (await page.$("#walk-go")).evaluateHandle((b) => b.closest(".panel"));
  const gen = await (await page.$("#gen-go")).evaluateHandle((b) => b.closest(".panel"));
  await gen.asElement().screenshot({ path: join(out, "serve-generate.png") });
  await walk.asElement().screenshot({ path: join(out, "serve-walk.png") });
  // A compare report with its charts.
  await page.goto(server.url + "#report=1%2Flipschitz");
  await page.waitForSelector("#report-section:not([hidden]) img");
  await page.waitForTimeout(500);
  await page.$eval("#report-section", (e) => e.scrollIntoView());
  await page.screenshot({ path: join(out, "serve-report.png") });
  console.log(`first page (runs, charts and samples drawn): ${firstPage.toFixed(0)} ms`);
  console.log(`100 samples generated and shown: ${generated.toFixed(0)} ms`);
} finally {
  await browser.close();
  server.child.kill();
}
