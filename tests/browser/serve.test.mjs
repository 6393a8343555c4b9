// `textgan serve` in a real browser: the page loads over a trained run, opens it, draws its
// curves, the slider shows the fixed-noise samples of each evaluation as the run wrote them,
// generating gives the command line's text for the same seed, a walk between two picked
// samples starts and ends at them, a run that trains updates without a reload, and a
// screenshot is taken. Run by tests/browser.rs (cargo test), which trains the run and sets
// TEXTGAN_BIN, TEXTGAN_RUNS (the folder served) and SCREENSHOT_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, launchBrowser, startServer } from "./harness.mjs";

const RUNS = process.env.TEXTGAN_RUNS;
const SHOTS = process.env.SCREENSHOT_DIR;
assert.ok(RUNS && SHOTS, "TEXTGAN_RUNS and SCREENSHOT_DIR must be set (tests/browser.rs sets them)");
const RUN = join(RUNS, "tiny");

let server, browser, page;
const problems = [];

before(async () => {
  server = await startServer([RUNS]);
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
});

after(async () => {
  await browser?.close();
  server?.child.kill();
});

const cli = (...args) => execFileSync(BIN, args, { encoding: "utf8" }).split("\n").slice(0, -1);
const texts = (selector) => page.$$eval(selector, (els) => els.map((e) => e.textContent));

test("the page lists the run and opens it with its curves", async () => {
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="1"]');
  const rows = await texts("#runs tbody tr");
  assert.equal(rows.length, 1);
  assert.match(rows[0], /tiny/);
  assert.match(rows[0], /finished/);
  await page.click("#runs tbody tr");
  await page.waitForSelector("#run-section:not([hidden])");
  // The section shows before the run's details arrive: wait for them.
  await page.waitForFunction(() => document.querySelector("#run-info").textContent !== "");
  assert.match(await page.textContent("#run-info"), /width 8 × 3 blocks/);
  // Five panels, each a uPlot chart of this run's evaluations.
  await page.waitForFunction(() => document.querySelectorAll("#charts .uplot").length === 5);
  assert.match(page.url(), /#run=0%2Ftiny$/);
});

test("the slider shows the samples each evaluation wrote", async () => {
  await page.waitForFunction(() => document.querySelectorAll("#samples li").length === 64);
  const iterations = readdirSync(join(RUN, "samples"))
    .filter((f) => /^\d+\.txt$/.test(f)).map((f) => Number(f.slice(0, -4))).sort((a, b) => a - b);
  assert.deepEqual(iterations, [0, 2, 4, 6]);
  // Opened at the latest; moved to each in turn.
  assert.equal(await page.getAttribute("#samples", "data-iteration"), "6");
  for (const [position, iteration] of iterations.entries()) {
    await page.$eval("#slider", (s, v) => { s.value = v; s.dispatchEvent(new Event("input")); }, String(position));
    await page.waitForSelector(`#samples[data-iteration="${iteration}"]`);
    const file = readFileSync(join(RUN, "samples", String(iteration).padStart(6, "0") + ".txt"), "utf8");
    assert.deepEqual(await texts("#samples li"), file.split("\n").slice(0, -1));
    assert.match(await page.textContent("#slider-label"), new RegExp(`^iteration ${iteration} `));
  }
});

test("generate gives the command line's text for the same seed", async () => {
  await page.fill("#gen-n", "6");
  await page.fill("#gen-seed", "7");
  await page.click("#gen-go");
  await page.waitForFunction(() => document.querySelectorAll("#gen-out li").length === 6);
  const lines = await texts("#gen-out li .text");
  assert.deepEqual(lines, cli("generate", "--model", RUN, "-n", "6", "--seed", "7"));
  assert.equal(await page.textContent("#gen-cmd"), `textgan generate --model ${RUNS}/tiny -n 6 --seed 7`);
});

test("a walk between two picked samples starts and ends at them", async () => {
  await page.click("#gen-out li:nth-child(1) button[title='walk from this sample']");
  await page.click("#gen-out li:nth-child(4) button[title='walk to this sample']");
  assert.equal(await page.inputValue("#walk-from"), "7:0");
  assert.equal(await page.inputValue("#walk-to"), "7:3");
  await page.fill("#walk-steps", "4");
  await page.click("#walk-go");
  await page.waitForFunction(() => document.querySelectorAll("#walk-out tr").length === 5);
  const walk = await texts("#walk-out td.text");
  const generated = await texts("#gen-out li .text");
  assert.equal(walk[0], generated[0]);
  assert.equal(walk[4], generated[3]);
  assert.deepEqual(walk, cli("interpolate", "--model", RUN, "--from", "7:0", "--to", "7:3", "--steps", "4"));
  // A bad value is a one-line message on the page, not a broken page.
  await page.fill("#walk-to", "7:x");
  await page.click("#walk-go");
  await page.waitForSelector("#status.error");
  assert.match(await page.textContent("#status"), /^to /);
  // (The browser logs the refused request; nothing else may be logged.)
  assert.deepEqual(problems.splice(0), ["console: Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
  await page.fill("#walk-to", "7:3");
});

test("a truncation reads generate and the walk at that ψ, and the commands say so", async () => {
  // Empty: the run's own ψ, shown as the box's placeholder.
  const config = JSON.parse(readFileSync(join(RUN, "config.json"), "utf8"));
  assert.equal(await page.getAttribute("#gen-psi", "placeholder"), String(config.truncation));
  await page.fill("#gen-psi", "0.3");
  await page.click("#gen-go");
  await page.waitForFunction(() => document.querySelectorAll("#gen-out li").length === 6);
  const want = cli("generate", "--model", RUN, "-n", "6", "--seed", "7", "--truncation", "0.3");
  await page.waitForFunction((first) => document.querySelector("#gen-out li .text").textContent === first, want[0]);
  assert.deepEqual(await texts("#gen-out li .text"), want);
  assert.equal(await page.textContent("#gen-cmd"), `textgan generate --model ${RUNS}/tiny -n 6 --seed 7 --truncation 0.3`);
  // The walk between the first and fourth reads the same ψ: it starts and ends at them.
  await page.click("#walk-go");
  await page.waitForFunction((last) => {
    const cells = document.querySelectorAll("#walk-out td.text");
    return cells.length === 5 && cells[4].textContent === last;
  }, want[3]);
  const walk = await texts("#walk-out td.text");
  assert.equal(walk[0], want[0]);
  assert.deepEqual(walk, cli("interpolate", "--model", RUN, "--from", "7:0", "--to", "7:3", "--steps", "4", "--truncation", "0.3"));
  assert.match(await page.textContent("#walk-cmd"), / --truncation 0\.3$/);
  // Out of range: one line on the page.
  await page.fill("#gen-psi", "1.5");
  await page.click("#gen-go");
  await page.waitForSelector("#status.error");
  assert.match(await page.textContent("#status"), /truncation must be above 0 and at most 1/);
  assert.deepEqual(problems.splice(0), ["console: Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
  await page.fill("#gen-psi", "");
});

test("a run that trains updates without a reload", async () => {
  // The slider is at the newest evaluation (the test above left it there): it follows.
  assert.equal(await page.getAttribute("#samples", "data-iteration"), "6");
  assert.equal(await page.getAttribute("#charts", "data-points"), "4");
  const metrics = join(RUN, "metrics.jsonl");
  const last = readFileSync(metrics, "utf8").trim().split("\n").pop();
  const next = last.replace(/"iteration":6,/, '"iteration":8,');
  appendFileSync(metrics, next.slice(0, 30)); // a line still being written: skipped
  await page.waitForTimeout(2500);
  assert.match((await texts("#runs tbody tr td:nth-child(6)"))[0], /^6$/);
  assert.equal(await page.getAttribute("#charts", "data-points"), "4");
  // The trainer writes an evaluation's samples, then its metrics line.
  writeFileSync(join(RUN, "samples", "000008.txt"), "eight\n".repeat(64));
  appendFileSync(metrics, next.slice(30) + "\n");
  await page.waitForFunction(() => document.querySelector("#runs tbody tr td:nth-child(6)").textContent === "8", null, { timeout: 10000 });
  await page.waitForSelector('#charts[data-points="5"]', { timeout: 10000 });
  await page.waitForSelector('#samples[data-iteration="8"]', { timeout: 10000 });
  assert.deepEqual(await texts("#samples li"), Array(64).fill("eight"));
  assert.deepEqual(problems, []);
});

test("a screenshot of the page", async () => {
  const file = join(SHOTS, "serve-run.png");
  await page.screenshot({ path: file, fullPage: true });
  assert.ok(statSync(file).size > 20000, "a real picture");
});
