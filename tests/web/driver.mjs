// A small browser driver for the `--web` page tests: headless Chromium through
// playwright-core, steered by the Rust test over stdin/stdout, one JSON object per line.
//
//   {"cmd":"open","url":U}             open U in a fresh page
//   {"cmd":"state","state":S,"ms":N}   wait until the page's data-state is S
//   {"cmd":"qr","path":P}              screenshot the QR image to P (PNG)
//   {"cmd":"shot","path":P}            screenshot the whole page to P (PNG)
//   {"cmd":"close"}
//
// Each answer is {"ok":true,...} or {"ok":false,"error":...}.
import { createRequire } from "node:module";
import readline from "node:readline";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 420, height: 860 }, deviceScaleFactor: 2 });
let page = null;
const reply = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let m;
  try { m = JSON.parse(line); } catch (e) { reply({ ok: false, error: "bad json" }); continue; }
  try {
    if (m.cmd === "open") {
      page = await context.newPage();
      const resp = await page.goto(m.url, { waitUntil: "load" });
      reply({ ok: true, status: resp.status() });
    } else if (m.cmd === "state") {
      await page.waitForSelector(`#state[data-state="${m.state}"]`, { timeout: m.ms || 15000 });
      const title = await page.textContent("#title");
      const account = await page.textContent("#account");
      const kind = await page.getAttribute("#qr", "data-kind");
      reply({ ok: true, title, account, kind });
    } else if (m.cmd === "qr") {
      await page.waitForSelector("#qrbox:not([hidden]) #qr[src]");
      await page.locator("#qrbox").screenshot({ path: m.path });
      reply({ ok: true });
    } else if (m.cmd === "shot") {
      await page.screenshot({ path: m.path, fullPage: true });
      reply({ ok: true });
    } else if (m.cmd === "close") {
      await browser.close();
      reply({ ok: true });
      process.exit(0);
    } else {
      reply({ ok: false, error: "unknown command " + m.cmd });
    }
  } catch (e) {
    let text = "";
    try { text = page ? await page.textContent("body") : ""; } catch (_) {}
    reply({ ok: false, error: String(e).split("\n")[0], page: text });
  }
}
await browser.close();
