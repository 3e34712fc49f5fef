// Plays an HLS URL in headless Chromium with hls.js and prints what happened as one JSON line:
//   node play.mjs PAGE_URL [SECONDS]
// PAGE_URL is player.html served next to hls.min.js, with ?src=<playlist URL>. The page
// reports currentTime and a canvas frame's pixel variance; this script only drives it.
import { chromium } from 'playwright-core';

const [pageUrl, secondsArg] = process.argv.slice(2);
const want = Number(secondsArg || 4);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const deadline = Date.now() + 40000;

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
});
const result = { ok: false, log: [] };
try {
  // over HTTPS the server has the test's own certificate
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  page.on('console', (m) => result.log.push(`${m.type()}: ${m.text()}`.slice(0, 300)));
  page.on('pageerror', (e) => result.log.push(`pageerror: ${e.message}`.slice(0, 300)));
  await page.goto(pageUrl);
  // first advance: playback started; then it must go on by `want` seconds
  await page.waitForFunction(() => window.player && window.player.started !== null, null,
    { timeout: Math.max(1000, deadline - Date.now()) });
  await page.waitForFunction((w) => window.player.time() - window.player.started >= w, want,
    { timeout: Math.max(1000, deadline - Date.now()), polling: 200 });
  Object.assign(result, await page.evaluate(() => window.player.report()));
  result.ok = true;
} catch (e) {
  result.error = String(e).slice(0, 1000);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages.length) {
      Object.assign(result, await pages[0].evaluate(() => window.player && window.player.report()));
    }
  } catch (e2) {
    result.log.push(`report failed: ${e2}`);
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
