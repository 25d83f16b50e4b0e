// Checks the sse_auto demo page (examples/demo/index.html) in Debian's headless Chromium: a real
// EventSource must get every event live through /on/ (the module's default) and all of them only
// at the end through /off/ (`sse_auto off;`), and the page's panel of nginx's own numbers
// (sse_auto_status) must show the open stream while /on/ is connected. Writes a screenshot of the
// finished page, one of the panel showing the open stream (*-metrics.png), and one taken halfway
// through the stream, when /on/ should already show events and /off/ none.
//
//   node demo_check.mjs --base http://127.0.0.1:18090 [--count 5] [--interval 0.5]
//       [--screenshot target/demo-check/demo.png] [--json result.json]
//       [--live-ms 250] [--held-ratio 0.8] [--chromium /usr/bin/chromium] [--user-data-dir DIR]
//
// Normally run by scripts/test/demo-check.sh, which starts and stops the demo. Exit status: 0 pass,
// 1 a check failed, 2 usage or browser trouble.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

function usage(msg) {
  if (msg) console.error(`demo_check: ${msg}`);
  console.error("usage: node demo_check.mjs --base URL [--count N] [--interval S] "
    + "[--screenshot PATH] [--json PATH] [--live-ms MS] [--held-ratio R] [--chromium PATH] "
    + "[--user-data-dir DIR]");
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    options: {
      base: { type: "string" },
      count: { type: "string", default: "5" },
      interval: { type: "string", default: "0.5" },
      screenshot: { type: "string", default: "target/demo-check/demo.png" },
      json: { type: "string" },
      "live-ms": { type: "string", default: "250" },
      "held-ratio": { type: "string", default: "0.8" },
      chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
      "user-data-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (e) {
  usage(e.message);
}
if (opts.help) usage();
if (!opts.base) usage("--base is required");
const count = Number.parseInt(opts.count, 10);
const interval = Number.parseFloat(opts.interval);
const liveMs = Number.parseFloat(opts["live-ms"]);
const heldRatio = Number.parseFloat(opts["held-ratio"]);
if (!(count >= 2 && count <= 1000)) usage("--count must be 2..1000 (one event cannot show buffering)");
if (!(interval > 0 && interval <= 60)) usage("--interval must be in (0, 60]");
if (!(liveMs > 0) || !(heldRatio > 0 && heldRatio <= 1)) usage("bad --live-ms or --held-ratio");

const streamMs = (count - 1) * interval * 1000;   // when the backend sends its last event
const heldMs = streamMs * heldRatio;             // /off/'s first event must not come earlier
const screenshot = resolve(opts.screenshot);
const midShot = screenshot.replace(/(\.png)?$/i, "-midstream.png");
const metricsShot = screenshot.replace(/(\.png)?$/i, "-metrics.png");
const pageUrl = new URL(`/?count=${count}&interval=${interval}`, opts.base).href;

const ownProfile = !opts["user-data-dir"];
const userDataDir = opts["user-data-dir"] || mkdtempSync(join(tmpdir(), "sse-auto-chromium-"));

// Everything the page shows about one pane, read from its stable data-* hooks.
function readPane(mode) {
  const el = document.getElementById(`${mode}-pane`);
  const num = (v) => (v === undefined || v === "" ? null : Number(v));
  const rows = [...document.querySelectorAll(`#${mode}-log tr`)];
  return {
    state: el.dataset.state ?? null,
    verdict: el.dataset.verdict ?? null,
    received: num(el.dataset.received),
    maxDelay: num(el.dataset.maxDelay),
    firstArrival: num(el.dataset.firstArrival),
    events: rows.filter((r) => r.dataset.seq !== undefined).map((r) => ({
      seq: Number(r.dataset.seq),
      arrival: Number(r.dataset.arrival),
      delay: Number(r.dataset.delay),
      live: r.dataset.live === "1",
    })),
    doneArrival: num(rows.find((r) => r.dataset.done === "1")?.dataset.arrival),
    badge: document.getElementById(`${mode}-badge`)?.textContent ?? null,
    status: document.getElementById(`${mode}-status`)?.textContent ?? null,
  };
}

// The metrics panel, and whether /on/'s EventSource is connected at that moment.
function readMetrics() {
  const text = (id) => document.getElementById(id)?.textContent ?? null;
  const on = document.getElementById("on-pane").dataset.state;
  return {
    open: Number(text("metrics-open")),
    decided: text("metrics-decided"),
    panel: document.getElementById("metrics")?.dataset.state ?? null,
    status: text("metrics-status"),
    onConnected: on === "waiting" || on === "streaming",
  };
}

// The checks of the issue; returns a list of failure messages (empty: pass).
function judge(off, on, mid, metrics) {
  const fails = [];
  if (!metrics || !(metrics.open >= 1 && metrics.onConnected)) {
    fails.push(`the metrics panel never showed an open stream while /on/ was connected `
      + `(last: ${metrics ? `${metrics.open} open, panel ${metrics.panel}: ${metrics.status}` : "none"})`);
  }
  const expectSeqs = Array.from({ length: count }, (_, i) => i + 1).join(",");
  for (const [name, p] of [["on", on], ["off", off]]) {
    if (p.state !== "done") fails.push(`/${name}/: stream did not end normally (state ${p.state}: ${p.status})`);
    if (p.received !== count || p.events.length !== count) {
      fails.push(`/${name}/: received ${p.received} events (${p.events.length} rows), expected ${count}`);
    } else if (p.events.map((e) => e.seq).join(",") !== expectSeqs) {
      fails.push(`/${name}/: events out of order or repeated: ${p.events.map((e) => e.seq).join(",")}`);
    }
  }
  if (on.received !== off.received) fails.push(`counts differ: /on/ ${on.received}, /off/ ${off.received}`);
  for (const e of on.events) {
    if (!(e.delay < liveMs)) fails.push(`/on/ is not live: event ${e.seq} arrived ${e.delay} ms after it was sent (limit ${liveMs} ms)`);
  }
  if (off.firstArrival === null || off.firstArrival < heldMs) {
    fails.push(`/off/ is not held: its first event arrived after ${off.firstArrival} ms, `
      + `before ${Math.round(heldMs)} ms (${heldRatio} of the ${streamMs} ms stream)`);
  }
  const first = off.events[0];
  if (first && first.delay < heldMs) {
    fails.push(`/off/ is not held: event ${first.seq} arrived only ${first.delay} ms after it was sent`);
  }
  if (on.verdict !== "live") fails.push(`the page's own verdict for /on/ is ${on.verdict}, not live`);
  if (off.verdict !== "held") fails.push(`the page's own verdict for /off/ is ${off.verdict}, not held`);
  if (mid && !(mid.on.received > 0 && mid.off.received === 0)) {
    fails.push(`halfway through the stream the page showed /on/ ${mid.on.received} and /off/ ${mid.off.received} events (want some and none)`);
  }
  return fails;
}

function paneLines(name, p) {
  const lines = [];
  const fmt = (ms) => (ms === null ? "-" : `${(ms / 1000).toFixed(2)}s`);
  lines.push(`  ${name.padEnd(22)} received ${p.received}/${count}, first ${fmt(p.firstArrival)}, `
    + `max delay ${p.maxDelay} ms, done ${fmt(p.doneArrival)}, badge "${p.badge}", verdict ${p.verdict}`);
  lines.push(`  ${"".padEnd(22)} arrivals ${p.events.map((e) => fmt(e.arrival)).join(" ") || "(none)"}`);
  lines.push(`  ${"".padEnd(22)} delays   ${p.events.map((e) => `${e.delay}ms`).join(" ") || "(none)"}`);
  return lines;
}

async function main() {
  mkdirSync(dirname(screenshot), { recursive: true });
  const problems = [];   // page errors and failed requests: reported, and they fail the check
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: opts.chromium,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 },
      deviceScaleFactor: 1,
      timeout: 60_000,
    });
  } catch (e) {
    console.error(`demo_check: cannot start ${opts.chromium}: ${e.message}`);
    return 2;
  }
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // The demo serves no favicon (nginx answers 404 to the browser's own /favicon.ico request).
      if (m.type() === "error" && !/\/favicon\.ico$/.test(m.location()?.url ?? "")) {
        problems.push(`console error: ${m.text()} (${m.location()?.url ?? "?"})`);
      }
    });
    page.on("requestfailed", (r) => {
      // The page closes each EventSource itself after "done"; an abort then is expected.
      const err = r.failure()?.errorText ?? "";
      if (!/ERR_ABORTED/.test(err)) problems.push(`request failed: ${r.url()} ${err}`);
    });
    const browserVersion = context.browser()?.version() ?? "?";

    const resp = await page.goto(pageUrl, { waitUntil: "domcontentloaded", timeout: 15_000 });
    if (!resp || resp.status() !== 200) throw new Error(`GET ${pageUrl} answered ${resp?.status()}`);

    // nginx's own numbers: the panel counts /on/'s stream while it is connected.
    let metrics = null;
    try {
      await page.waitForFunction(() => {
        const on = document.getElementById("on-pane").dataset.state;
        return (Number(document.getElementById("metrics-open")?.textContent) >= 1
          && (on === "waiting" || on === "streaming")) || document.body.dataset.done;
      }, null, { timeout: streamMs + 15_000, polling: 50 });
      metrics = await page.evaluate(readMetrics);
      await page.screenshot({ path: metricsShot, fullPage: true });
    } catch (e) {
      problems.push(`the metrics panel: ${e.message.split("\n")[0]}`);
    }

    // Halfway (by /on/'s events): /on/ must show events, /off/ none yet.
    const half = Math.ceil(count / 2);
    const budget = streamMs + 15_000;
    let mid = null;
    try {
      await page.waitForFunction(
        (n) => Number(document.getElementById("on-pane").dataset.received) >= n || document.body.dataset.done,
        half, { timeout: budget, polling: 50 });
      const done = await page.evaluate(() => !!document.body.dataset.done);
      if (!done) {
        mid = { off: await page.evaluate(readPane, "off"), on: await page.evaluate(readPane, "on") };
        await page.screenshot({ path: midShot, fullPage: true });
      }
    } catch (e) {
      problems.push(`/on/ never reached ${half} events: ${e.message.split("\n")[0]}`);
    }

    await page.waitForSelector("body[data-done]", { state: "attached", timeout: budget });
    // The rows' yellow "new" flash lasts 0.9 s and is removed after 1 s: let it fade for a clean picture.
    await page.waitForTimeout(1200);
    const off = await page.evaluate(readPane, "off");
    const on = await page.evaluate(readPane, "on");
    await page.screenshot({ path: screenshot, fullPage: true });

    const fails = [...judge(off, on, mid, metrics), ...problems];
    const out = [];
    out.push(`browser: Chromium ${browserVersion} (${opts.chromium}), page ${pageUrl}`);
    out.push(`stream: ${count} events, ${interval} s apart (last one sent at ${(streamMs / 1000).toFixed(2)} s); `
      + `live: every delay < ${liveMs} ms; held: first arrival >= ${(heldMs / 1000).toFixed(2)} s`);
    out.push(...paneLines("/on/  (default)", on));
    out.push(...paneLines("/off/ (sse_auto off)", off));
    if (mid) {
      out.push(`  halfway (at ${((mid.on.events.at(-1)?.arrival ?? 0) / 1000).toFixed(2)}s): /on/ ${mid.on.received} events, `
        + `/off/ ${mid.off.received} (screenshot: ${midShot})`);
    }
    if (metrics) {
      out.push(`  ${"metrics panel".padEnd(22)} streams open ${metrics.open}, decided ${metrics.decided} `
        + `while /on/ was connected; panel ${metrics.panel}: ${metrics.status} (screenshot: ${metricsShot})`);
    }
    for (const f of fails) out.push(`FAIL: ${f}`);
    console.log(out.join("\n"));

    if (opts.json) {
      mkdirSync(dirname(resolve(opts.json)), { recursive: true });
      writeFileSync(opts.json, JSON.stringify({
        pass: fails.length === 0, failures: fails, browser: browserVersion, url: pageUrl,
        count, interval, liveMs, heldMs, on, off, mid, metrics, screenshot, midScreenshot: mid ? midShot : null,
      }, null, 2) + "\n");
    }
    return fails.length === 0 ? 0 : 1;
  } catch (e) {
    console.error(`demo_check: ${e.message}`);
    for (const p of problems) console.error(`  ${p}`);
    try {
      const page = context.pages()[0];
      if (page) {
        await page.screenshot({ path: screenshot, fullPage: true });
        console.error(`demo_check: screenshot of the page as it was: ${screenshot}`);
      }
    } catch { /* nothing more to show */ }
    return 1;
  } finally {
    await context.close().catch(() => {});
    if (ownProfile) rmSync(userDataDir, { recursive: true, force: true });
  }
}

let exiting = false;
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    if (exiting) return;
    exiting = true;
    // Playwright kills the browser it launched when this process exits.
    if (ownProfile) rmSync(userDataDir, { recursive: true, force: true });
    process.exit(130);
  });
}

process.exitCode = await main();
