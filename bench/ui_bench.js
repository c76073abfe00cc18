// bench/ui.sh's browser half: cold-load paint timings, then the gateway's RSS while the
// signed-in UI streams an answer. Usage: node ui_bench.js URL TOKEN GATEWAY_PID
const { chromium } = require("playwright-core");
const fs = require("fs");
const [url, token, pid] = process.argv.slice(2);
const rss = () => Number(fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024;

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.HEARTH_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  const idle = rss();
  const fcps = [];
  for (let i = 0; i < 5; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    await page.goto(url, { waitUntil: "load" });
    await page.waitForSelector("#token");
    fcps.push(await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0].startTime));
    await ctx.close();
  }
  fcps.sort((a, b) => a - b);
  console.log(`== first contentful paint, cold load: median ${fcps[2].toFixed(0)} ms (min ${fcps[0].toFixed(0)}, max ${fcps[4].toFixed(0)}; 5 fresh contexts)`);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await page.goto(url);
  await page.fill("#token", token);
  await page.click("#signin");
  await page.waitForSelector(".conn.connected");
  await page.waitForTimeout(500);
  const signedIn = rss();
  let peak = signedIn;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 20);
  await page.fill("#composer", "Write a short story about a lighthouse keeper.");
  await page.click("#send");
  await page.waitForSelector("#streaming", { timeout: 120000 });
  await page.waitForSelector("#streaming", { state: "detached", timeout: 300000 });
  clearInterval(sampler);
  console.log(`== gateway RSS: idle ${idle.toFixed(1)} MiB, UI signed in ${signedIn.toFixed(1)} MiB, peak while the UI streams the answer ${peak.toFixed(1)} MiB`);
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
