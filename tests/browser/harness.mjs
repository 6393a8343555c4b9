// Shared by the browser tests and the screenshot script: start `textgan serve`, launch
// Debian's Chromium headless through playwright-core (which downloads no browser).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export const BIN = process.env.TEXTGAN_BIN ?? "target/release/textgan";
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

// `textgan serve ARGS --port 0`: the process and the address it printed.
export async function startServer(args) {
  const child = spawn(BIN, ["serve", ...args, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (l) => resolve(l.trim()));
    child.once("exit", (code) => reject(new Error(`textgan serve exited with ${code}: ${stderr}`)));
  });
  return { child, url, started: performance.now() };
}

// Headless Chromium with the flags a closed network needs (no background connections).
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}
