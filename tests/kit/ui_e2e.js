// The control UI in Debian's headless Chromium, driven by playwright-core (it downloads no
// browser): sign in, chat with a streamed answer, approve a pairing request and an exec
// approval, change a config value with a validation error and then a valid one — on a
// desktop and on a phone viewport. Screenshots go to OUT_DIR; the first contentful paint of
// a cold load is printed as `FCP_MS <ms>`. Exit status 0 when every step passed.
//
// Usage: node ui_e2e.js URL TOKEN OUT_DIR
const { chromium } = require("playwright-core");

const [url, token, out] = process.argv.slice(2);
const T = 30000;

async function signIn(page, shot) {
  await page.goto(url);
  await page.waitForSelector("#token", { timeout: T });
  await page.screenshot({ path: `${out}/${shot}-signin.png` });
  await page.fill("#token", "not the token");
  await page.click("#signin");
  await page.waitForSelector(".signin .error", { timeout: T });
  await page.fill("#token", token);
  await page.click("#signin");
  await page.waitForSelector("#nav-chat", { timeout: T });
  await page.waitForSelector(".conn.connected", { timeout: T });
}

async function chat(page, text, expect, shot) {
  await page.click("#nav-chat");
  await page.fill("#composer", text);
  await page.click("#send");
  // The answer streams: the dashed in-progress message appears before the final one.
  await page.waitForSelector("#streaming", { timeout: T });
  const partial = await page.textContent("#streaming");
  await page.screenshot({ path: `${out}/${shot}-streaming.png` });
  await page.waitForFunction(
    (e) => [...document.querySelectorAll(".msg.assistant:not(.streaming)")].some((m) => m.textContent.includes(e)),
    expect,
    { timeout: T },
  );
  await page.screenshot({ path: `${out}/${shot}-answered.png` });
  return partial;
}

async function desktop(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await signIn(page, "desktop");
  const fcp = await page.evaluate(() => {
    const p = performance.getEntriesByName("first-contentful-paint")[0];
    return p ? p.startTime : -1;
  });
  console.log(`FCP_MS ${fcp.toFixed(1)}`);

  const partial = await chat(page, "hello streaming", "echo: hello streaming", "desktop-chat");
  console.log(`STREAMED ${JSON.stringify(partial)}`);

  // A pairing request from a stranger on Telegram, approved here.
  await page.click("#nav-channels");
  await page.waitForSelector("#pairing [data-code]", { timeout: T });
  await page.screenshot({ path: `${out}/desktop-channels.png` });
  const code = await page.getAttribute("#pairing [data-code]", "data-code");
  await page.click(`#pairing [data-code="${code}"]`);
  await page.waitForFunction(() => !document.querySelector("#pairing"), null, { timeout: T });
  console.log(`PAIRED ${code}`);

  // A command the model wants to run waits for an approval, answered live.
  await page.click("#nav-chat");
  await page.fill("#composer", "please run the command");
  await page.click("#send");
  await page.waitForSelector("#nav-approvals .badge", { timeout: T });
  await page.click("#nav-approvals");
  await page.waitForSelector('#approvals [data-decision="allow-once"]', { timeout: T });
  await page.screenshot({ path: `${out}/desktop-approvals.png` });
  await page.click('#approvals [data-decision="allow-once"]');
  await page.waitForFunction(() => !document.querySelector("#approvals"), null, { timeout: T });
  await page.click("#nav-chat");
  await page.waitForFunction(
    () => [...document.querySelectorAll(".msg.assistant")].some((m) => m.textContent.includes("ran it")),
    null,
    { timeout: T },
  );
  console.log("APPROVED");

  // Config: a bad value is refused at its field, then a good one applies.
  await page.click("#nav-config");
  const field = '[data-path="agent.max_steps"]';
  await page.waitForSelector(field, { timeout: T });
  await page.fill(field, "lots");
  await page.click("#config-apply");
  await page.waitForSelector(".field.invalid .field-error", { timeout: T });
  const refusal = await page.textContent(".field.invalid .field-error");
  await page.screenshot({ path: `${out}/desktop-config-error.png`, fullPage: true });
  console.log(`REFUSED ${JSON.stringify(refusal)}`);
  await page.fill(field, "12");
  await page.click("#config-apply");
  await page.waitForSelector("#config-note", { timeout: T });
  await page.waitForFunction((f) => document.querySelector(f).value === "12", field, { timeout: T });
  await page.screenshot({ path: `${out}/desktop-config-applied.png`, fullPage: true });
  console.log("CONFIGURED");

  const ready = {
    memory: "section h2",
    models: "#models td",
    logs: "#logs",
    status: "#update",
  };
  for (const [p, sel] of Object.entries(ready)) {
    await page.click(`#nav-${p}`);
    await page.waitForSelector(sel, { timeout: T });
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${out}/desktop-${p}.png` });
  }
  await page.click("#nav-logs");
  await page.waitForFunction(() => document.querySelector("#logs")?.textContent.includes("gateway ready"), null, { timeout: T });
  await ctx.close();
  return errors;
}

async function phone(browser) {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await signIn(page, "phone");
  await chat(page, "hello from a phone", "echo: hello from a phone", "phone-chat");
  // Nothing may overflow the screen sideways.
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > 390) throw new Error(`the page is ${wide}px wide on a 390px screen`);
  for (const p of ["channels", "approvals", "config"]) {
    await page.click(`#nav-${p}`);
    await page.waitForSelector("section h2", { timeout: T });
    await page.screenshot({ path: `${out}/phone-${p}.png` });
  }
  await page.fill('[data-path="agent.max_steps"]', "-1");
  await page.click("#config-apply");
  await page.waitForSelector(".field.invalid .field-error", { timeout: T });
  await page.screenshot({ path: `${out}/phone-config-error.png`, fullPage: true });
  await ctx.close();
  console.log("PHONE");
  return errors;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.HEARTH_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const errors = [...(await desktop(browser)), ...(await phone(browser))];
    if (errors.length) throw new Error(`the page logged errors: ${errors.join("; ")}`);
    console.log("OK");
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(`FAILED: ${e.stack || e}`);
  process.exit(1);
});
