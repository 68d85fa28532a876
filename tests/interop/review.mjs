// The review page (`attachd serve`'s /review) driven in a real browser: Debian's Chromium
// (/usr/bin/chromium, package `chromium`) through npm `puppeteer-core` (pinned in package.json;
// it downloads no browser). It logs in through the form, then checks that a quarantined
// upload's hostile file name shows as text and injects nothing, and releases one upload and
// deletes another through their forms, as a reviewer would.
//
//   node review.mjs --base URL --token TOKEN --id ID --hostile TEXT --reviewer NAME
//                   [--delete-id ID2] [--reason TEXT] [--screenshot PATH]
//
// Each option may come from the environment instead: REVIEW_BASE_URL, REVIEW_TOKEN, REVIEW_ID,
// REVIEW_HOSTILE, REVIEW_REVIEWER, REVIEW_DELETE_ID, REVIEW_REASON, REVIEW_SCREENSHOT; also
// CHROMIUM (default /usr/bin/chromium), REVIEW_NO_SANDBOX=1 (--no-sandbox even when not root),
// REVIEW_TIMEOUT_MS (each wait, default 15000), REVIEW_TOTAL_MS (the whole run, default 90000)
// and REVIEW_FAILURE_SCREENSHOT (a PNG of the page at the moment a check failed, for a person).
//
// Checks, in order (the first that fails ends the run):
//   login     GET /review shows the login form (input name=token); submitting it ends on
//             /review with a session cookie that is HttpOnly and SameSite=Strict
//   list      there is a link to /review/attachments/ID (and ID2), the page's text holds
//             --hostile, and the page holds nothing the name could have injected: no script,
//             iframe, object, embed or frame element, no img[src=x], no on* attribute and no
//             javascript: value on any element (the page uses no JavaScript at all); the same
//             on every page after it. A JavaScript dialog (alert, confirm, prompt) or a script
//             error on any page fails the run.
//   detail    following the link: the hostile text again as text, form#release and form#delete
//             each with a field named reason, a hidden csrf field and a button[type=submit]
//   release   submitting form#release with --reason answers 303 and lands on /review; the
//             detail page's table#history then has a row naming the release (/releas/i), the
//             reason and --reviewer. Whether ID is still listed is reported (listedAfter), not
//             checked: a release processes the upload again, and it may be quarantined again.
//   delete    (with --delete-id) the same through form#delete of ID2: 303 to /review, ID2 no
//             longer listed (the detail page's status afterwards is reported, not checked)
// With --screenshot PATH nothing is changed: login, list and detail are checked and the list
// page is saved to PATH, the detail page of ID beside it (a.png -> a-detail.png), full page.
//
// Prints one JSON line on stdout: {"ok":true,...what was checked} or {"ok":false,"step",
// "error",...what had passed}; a failure is also said on stderr, and the exit code is 1 (2 for
// bad arguments).
import puppeteer from 'puppeteer-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const usage = 'usage: node review.mjs --base URL --token TOKEN --id ID --hostile TEXT --reviewer NAME [--delete-id ID2] [--reason TEXT] [--screenshot PATH]';
const OPTIONS = {
  base: 'REVIEW_BASE_URL',
  token: 'REVIEW_TOKEN',
  id: 'REVIEW_ID',
  hostile: 'REVIEW_HOSTILE',
  reviewer: 'REVIEW_REVIEWER',
  'delete-id': 'REVIEW_DELETE_ID',
  reason: 'REVIEW_REASON',
  screenshot: 'REVIEW_SCREENSHOT',
};

function parseArgs(argv) {
  const out = {};
  for (const [key, env] of Object.entries(OPTIONS)) {
    if (process.env[env] !== undefined && process.env[env] !== '') out[key] = process.env[env];
  }
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(argv[i]);
    if (!m || !(m[1] in OPTIONS)) throw new UsageError(`unknown argument ${JSON.stringify(argv[i])}`);
    if (m[2] !== undefined) out[m[1]] = m[2];
    else if (i + 1 < argv.length) out[m[1]] = argv[++i];
    else throw new UsageError(`--${m[1]} needs a value`);
  }
  const required = out.screenshot ? ['base', 'token', 'id'] : ['base', 'token', 'id', 'hostile', 'reviewer'];
  for (const key of required) {
    if (!out[key]) throw new UsageError(`--${key} (or ${OPTIONS[key]}) is required`);
  }
  for (const key of ['id', 'delete-id']) {
    if (out[key] !== undefined && !/^[0-9]+$/.test(out[key])) throw new UsageError(`--${key} must be a number, not ${JSON.stringify(out[key])}`);
  }
  out.base = out.base.replace(/\/+$/, '');
  try {
    new URL(out.base);
  } catch {
    throw new UsageError(`--base is not a URL: ${JSON.stringify(out.base)}`);
  }
  out.reason ??= 'checked by review.mjs: name is hostile text, file is fine';
  return out;
}

class UsageError extends Error {}
/** A check that did not hold; `step` says which part of the run it belongs to. */
class CheckFailed extends Error {}

const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const timeoutMs = Number(process.env.REVIEW_TIMEOUT_MS || 15000);
const totalMs = Number(process.env.REVIEW_TOTAL_MS || 90000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`review.mjs: ${e.message}\n${usage}\n`);
  print({ ok: false, step: 'arguments', error: e.message });
  process.exit(2);
}

const checked = {};
let step = 'launch';
let browser;
let page;
// A profile of our own, removed at the end however the run ends (puppeteer's own is left
// behind when the browser has to be killed).
let profile;
// JavaScript dialogs and uncaught script errors: the page has no script of its own, so
// any of them means something ran that should not have.
const dialogs = [];
const pageErrors = [];

const fail = (message) => {
  throw new CheckFailed(message);
};
const url = (path) => args.base + path;
const pathOf = (href) => new URL(href).pathname;

/** Fails on anything a hostile name could have put into the page, then on any dialog so far. */
async function checkNothingInjected(where) {
  const found = await page.evaluate(() => {
    const hits = [];
    for (const el of document.querySelectorAll('script, iframe, object, embed, frame, img[src="x"]')) {
      hits.push(el.outerHTML.slice(0, 200));
    }
    for (const el of document.querySelectorAll('*')) {
      for (const attr of el.attributes) {
        if (/^on/i.test(attr.name)) hits.push(`${el.tagName.toLowerCase()}[${attr.name}]`);
        if (/^\s*javascript:/i.test(attr.value)) hits.push(`${el.tagName.toLowerCase()}[${attr.name}=javascript:]`);
      }
    }
    return hits;
  });
  if (found.length) fail(`${where}: the page holds injected elements or attributes: ${JSON.stringify(found.slice(0, 5))}`);
  if (dialogs.length) fail(`${where}: a JavaScript dialog opened: ${JSON.stringify(dialogs)}`);
  if (pageErrors.length) fail(`${where}: script ran on the page: ${JSON.stringify(pageErrors.slice(0, 5))}`);
}

async function bodyText() {
  return page.$eval('body', (b) => b.textContent);
}

/** Loads `path` and fails unless it answers 200. */
async function open(path) {
  const response = await page.goto(url(path), { waitUntil: 'load' });
  if (!response) fail(`GET ${path}: no response`);
  if (response.status() !== 200) fail(`GET ${path} answered ${response.status()}, not 200`);
  return response;
}

/** Clicks `selector` and waits for the navigation it starts; returns its response. */
async function clickAndWait(selector) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
  if (!response) fail(`clicking ${selector}: no navigation response`);
  return response;
}

/** After a form POST: the first answer was a 303 and the browser ended on /review with a 200. */
function checkRedirectToList(response, what) {
  const chain = response.request().redirectChain();
  const first = chain.length ? chain[0].response() : response;
  const firstStatus = first ? first.status() : null;
  if (firstStatus !== 303) fail(`${what}: the POST answered ${firstStatus}, not 303`);
  if (pathOf(response.url()) !== '/review') fail(`${what}: redirected to ${pathOf(response.url())}, not /review`);
  if (response.status() !== 200) fail(`${what}: /review after the redirect answered ${response.status()}`);
  return { status: firstStatus, location: pathOf(response.url()) };
}

const linkTo = (id) => `a[href$="/review/attachments/${id}"]`;

async function isListed(id) {
  return (await page.$(linkTo(id))) !== null;
}

async function checkDetailForms() {
  for (const form of ['release', 'delete']) {
    const shape = await page.evaluate((form) => {
      const f = document.querySelector(`form#${form}`);
      if (!f) return null;
      return {
        method: (f.getAttribute('method') || 'get').toLowerCase(),
        action: f.action,
        reason: !!f.querySelector('[name="reason"]'),
        csrf: !!f.querySelector('input[type="hidden"][name="csrf"]'),
        csrfValue: f.querySelector('input[name="csrf"]')?.value?.length > 0,
        submit: !!f.querySelector('button[type="submit"]'),
      };
    }, form);
    if (!shape) fail(`detail page: no form#${form}`);
    if (shape.method !== 'post') fail(`detail page: form#${form} has method ${shape.method}, not post`);
    if (!shape.reason) fail(`detail page: form#${form} has no field named reason`);
    if (!shape.csrf || !shape.csrfValue) fail(`detail page: form#${form} has no hidden csrf field with a value`);
    if (!shape.submit) fail(`detail page: form#${form} has no button[type=submit]`);
    checked[`${form}Form`] = pathOf(shape.action);
  }
}

/** Opens the list, follows the link to `id`'s detail page and submits form#`form` with the reason. */
async function decide(id, form) {
  await open('/review');
  await checkNothingInjected('list');
  if (!(await isListed(id))) fail(`attachment ${id} is not listed on /review`);
  const detail = await clickAndWait(linkTo(id));
  if (detail.status() !== 200) fail(`detail page of ${id} answered ${detail.status()}`);
  await checkNothingInjected('detail');
  await page.$eval(`form#${form} [name="reason"]`, (el) => {
    el.value = '';
  });
  await page.type(`form#${form} [name="reason"]`, args.reason);
  const response = await clickAndWait(`form#${form} button[type="submit"]`);
  const redirect = checkRedirectToList(response, form);
  await checkNothingInjected(`list after ${form}`);
  return redirect;
}

async function run() {
  profile = mkdtempSync(join(tmpdir(), 'attachd-review-'));
  browser = await puppeteer.launch({
    executablePath,
    userDataDir: profile,
    headless: true,
    timeout: timeoutMs,
    // As root Chromium refuses to start without --no-sandbox (REVIEW_NO_SANDBOX=1 asks for it
    // elsewhere too, say in a container without user namespaces). --disable-dev-shm-usage keeps
    // it off a small /dev/shm (containers give 64 MiB), where it would crash.
    args: [
      ...(process.getuid?.() === 0 || process.env.REVIEW_NO_SANDBOX === '1' ? ['--no-sandbox'] : []),
      '--disable-dev-shm-usage',
      '--no-first-run',
    ],
  });
  checked.browser = await browser.version();
  page = await browser.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.setDefaultNavigationTimeout(timeoutMs);
  await page.setViewport({ width: 1280, height: 900 });
  page.on('dialog', async (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (err) => pageErrors.push(String(err?.message ?? err)));

  step = 'login';
  await open('/review');
  await checkNothingInjected('login page');
  if (!(await page.$('form input[name="token"]'))) fail('GET /review without a session shows no input named token');
  await page.type('input[name="token"]', args.token);
  const loginSubmit = (await page.$('form:has(input[name="token"]) button[type="submit"]'))
    ? 'form:has(input[name="token"]) button[type="submit"]'
    : 'form:has(input[name="token"]) [type="submit"]';
  const afterLogin = await clickAndWait(loginSubmit);
  checked.login = checkRedirectToList(afterLogin, 'login');
  if (await page.$('input[name="token"]')) fail('after login /review still shows the login form (the token was refused?)');
  const cookies = await browser.cookies();
  const session = cookies.find((c) => c.httpOnly && c.sameSite === 'Strict');
  if (!session) fail(`no HttpOnly SameSite=Strict session cookie after login; cookies: ${JSON.stringify(cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite })))}`);
  checked.sessionCookie = { name: session.name, httpOnly: session.httpOnly, sameSite: session.sameSite, secure: session.secure };

  step = 'list';
  await checkNothingInjected('list');
  if (!(await isListed(args.id))) fail(`attachment ${args.id} is not listed on /review`);
  if (args['delete-id'] && !(await isListed(args['delete-id']))) fail(`attachment ${args['delete-id']} is not listed on /review`);
  checked.listed = [args.id, args['delete-id']].filter(Boolean).map(Number);
  if (args.hostile !== undefined) {
    const text = await bodyText();
    if (!text.includes(args.hostile)) fail(`the list's text does not hold the hostile name ${JSON.stringify(args.hostile)}`);
    checked.hostileShownAsText = true;
  }
  if (args.screenshot) {
    await page.screenshot({ path: args.screenshot, fullPage: true });
    checked.screenshots = [args.screenshot];
  }

  step = 'detail';
  const detail = await clickAndWait(linkTo(args.id));
  if (detail.status() !== 200) fail(`detail page of ${args.id} answered ${detail.status()}`);
  checked.detail = pathOf(detail.url());
  await checkNothingInjected('detail');
  if (args.hostile !== undefined) {
    if (!(await bodyText()).includes(args.hostile)) fail(`the detail page's text does not hold the hostile name ${JSON.stringify(args.hostile)}`);
  }
  await checkDetailForms();
  if (args.screenshot) {
    const second = args.screenshot.replace(/(\.png)?$/i, '-detail.png');
    await page.screenshot({ path: second, fullPage: true });
    checked.screenshots.push(second);
  }
  checked.injected = 'none';
  if (args.screenshot) return;

  step = 'release';
  checked.release = await decide(args.id, 'release');
  // Reported, not checked: a release processes the upload again, every check included, so a
  // running worker may quarantine it again at once.
  checked.release.listedAfter = await isListed(args.id);
  await open(`/review/attachments/${args.id}`);
  await checkNothingInjected('detail after release');
  const rows = await page.$$eval('table#history tr', (trs) =>
    trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, ' ').trim()).join(' | ')),
  );
  if (!rows.length) fail(`the detail page of ${args.id} has no table#history rows after the release`);
  const reason = args.reason.replace(/\s+/g, ' ').trim();
  const row = rows.find((r) => /releas/i.test(r) && r.includes(reason) && r.includes(args.reviewer));
  if (!row) fail(`no table#history row names the release, the reason ${JSON.stringify(reason)} and the reviewer ${JSON.stringify(args.reviewer)}; rows: ${JSON.stringify(rows)}`);
  checked.release.historyRow = row;

  if (args['delete-id']) {
    step = 'delete';
    checked.delete = await decide(args['delete-id'], 'delete');
    if (await isListed(args['delete-id'])) fail(`attachment ${args['delete-id']} is still listed on /review after its deletion`);
    const after = await page.goto(url(`/review/attachments/${args['delete-id']}`), { waitUntil: 'load' });
    checked.delete.detailStatusAfter = after ? after.status() : null;
    await checkNothingInjected('detail after delete');
  }
}

/** Closes the browser within a few seconds, or kills it. */
async function closeBrowser() {
  if (!browser) return;
  const proc = browser.process();
  let timer;
  const closed = await Promise.race([
    browser.close().then(() => true, () => false),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(false), 5000);
    }),
  ]);
  clearTimeout(timer);
  if (!closed && proc && proc.exitCode === null) proc.kill('SIGKILL');
  removeProfile();
}

function removeProfile() {
  if (profile) rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
}

let exitCode = 0;
let timedOut = false;
// The whole run is bounded: past totalMs the browser is killed and the run fails, whatever the
// main flow is waiting for (it says nothing more once this has spoken).
const watchdog = setTimeout(() => {
  timedOut = true;
  process.stderr.write(`review.mjs: FAIL at ${step}: the run took longer than ${totalMs} ms\n`);
  print({ ok: false, step, error: `timed out after ${totalMs} ms`, ...checked });
  browser?.process()?.kill('SIGKILL');
  // Chromium may still be writing to its profile for a moment after the kill.
  setTimeout(() => {
    removeProfile();
    process.exit(1);
  }, 500);
}, totalMs);
try {
  await run();
  if (!timedOut) print({ ok: true, base: args.base, mode: args.screenshot ? 'screenshot' : 'review', ...checked });
} catch (e) {
  exitCode = 1;
  if (!timedOut) {
    const message = e instanceof CheckFailed ? e.message : `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
    process.stderr.write(`review.mjs: FAIL at ${step}: ${message}\n`);
    if (process.env.REVIEW_FAILURE_SCREENSHOT && page) {
      await page
        .screenshot({ path: process.env.REVIEW_FAILURE_SCREENSHOT, fullPage: true })
        .then(() => process.stderr.write(`review.mjs: the page at that moment: ${process.env.REVIEW_FAILURE_SCREENSHOT}\n`))
        .catch(() => {});
    }
    print({ ok: false, step, error: message, ...checked });
  }
} finally {
  if (!timedOut) {
    await closeBrowser();
    clearTimeout(watchdog);
  }
}
// After a time-out the watchdog ends the process.
if (!timedOut) process.exit(exitCode);
