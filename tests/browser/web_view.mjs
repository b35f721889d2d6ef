// The edge's web view in headless Chromium (Debian's /usr/bin/chromium), driven by
// playwright-core. Usage: node web_view.mjs BASE_URL CONTROL_TOKEN VIEWER_TOKEN CASE_ID
// Prints one JSON object of what the browser saw; the Rust test (edge/tests/desktop.rs) judges it.
import { chromium } from 'playwright-core';

const [base, token, viewerToken, caseId] = process.argv.slice(2);
const origin = new URL(base).origin;
const out = { console: [], outside: [], requests: 0 };

const browser = await chromium.launch({
  executablePath: process.env.MELANOSCOPE_CHROMIUM || '/usr/bin/chromium',
  // The closed network of a lab: nothing in the background tries to reach Google.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', m => out.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', e => out.console.push(`pageerror: ${e.message}`));
  page.on('request', r => {
    out.requests += 1;
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('data:')) out.outside.push(u);
  });

  // Without the token: 401 for the page itself (in a context of its own: the refusal's
  // console line belongs to that check, not to the page under test).
  const stranger = await browser.newContext();
  out.without_token = (await (await stranger.newPage()).goto(`${origin}/`)).status();
  await stranger.close();

  const res = await page.goto(`${origin}/?token=${token}`, { waitUntil: 'domcontentloaded' });
  out.page_status = res.status();
  // The stream shows a frame.
  await page.waitForFunction(() => {
    const i = document.getElementById('live');
    return i && i.complete !== undefined && i.naturalWidth > 0;
  }, null, { timeout: 120000 });
  out.natural_width = await page.evaluate(() => document.getElementById('live').naturalWidth);
  // The stream's pixels change between replayed frames: sample until they differ.
  const sample = () => page.evaluate(() => {
    const i = document.getElementById('live');
    const c = document.createElement('canvas');
    c.width = 64; c.height = 48;
    const g = c.getContext('2d');
    g.drawImage(i, 0, 0, 64, 48);
    return Array.from(g.getImageData(0, 0, 64, 48).data).join(',');
  });
  const first = await sample();
  const deadline = Date.now() + 120000;
  out.pixels_changed = false;
  while (Date.now() < deadline) {
    await page.waitForTimeout(250);
    if ((await sample()) !== first) { out.pixels_changed = true; break; }
  }
  // The verdict appears as text (the live region).
  await page.waitForFunction(() => !/waiting/.test(document.getElementById('verdict').textContent), null, { timeout: 60000 });
  out.verdict_text = await page.textContent('#verdict');
  out.verdict_role = await page.getAttribute('#verdict', 'role');

  // Open and close a case from the page.
  await page.fill('input[name=id]', caseId);
  await page.click('form[action="/case/open"] button');
  await page.waitForFunction(() => /opened|refused/.test(document.getElementById('answer').textContent), null, { timeout: 30000 });
  out.open_answer = await page.textContent('#answer');
  await page.waitForFunction(id => document.getElementById('case').textContent.includes(id), caseId, { timeout: 30000 });
  out.case_text = await page.textContent('#case');
  await page.click('form[action="/case/close"] button');
  await page.waitForFunction(() => /closed|refused/.test(document.getElementById('answer').textContent), null, { timeout: 30000 });
  out.close_answer = await page.textContent('#answer');
  // The case page it links to.
  const casePage = await page.goto(`${origin}/cases/${caseId}/`, { waitUntil: 'load' });
  out.case_page_status = casePage.status();
  out.case_page_title = await page.title();

  // A read-only viewer: no case form, and a case request refused.
  const viewer = await browser.newContext();
  const vpage = await viewer.newPage();
  await vpage.goto(`${origin}/?token=${viewerToken}`, { waitUntil: 'domcontentloaded' });
  out.viewer_has_form = (await vpage.$('form[action="/case/open"]')) !== null;
  out.viewer_post = await vpage.evaluate(async () => {
    const r = await fetch('/case/open', { method: 'POST', headers: { Accept: 'application/json' }, body: new URLSearchParams({ id: 'RO-1' }) });
    return r.status;
  });
  await viewer.close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
