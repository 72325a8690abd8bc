// Opens a profile in speedscope (the npm package's release build, served from a local HTTP
// server) in Debian's headless Chromium through puppeteer-core, selects a thread when asked,
// switches to the Sandwich view and checks that its table lists the expected function (or
// slice) names, each as a whole row's symbol. Saves a screenshot of the view. Exits 0 on success; on failure prints what the
// table held and exits 1.
//
//   node render_test.mjs --modules DIR --profile FILE [--thread REGEX] --expect NAME...
//                        [--screenshot OUT.png] [--chromium PATH]
//
// The profile is what tracetool writes: a Chrome Trace Event JSON (`tracetool timeline`) or a
// gzipped pprof profile (`tracetool pprof`). speedscope shows one thread of a multi-thread
// trace at a time: --thread picks the first whose name matches (speedscope's profile switcher,
// keys n/p).

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';

function usage(message) {
  console.error(`render_test: ${message}`);
  console.error('usage: node render_test.mjs --modules DIR --profile FILE [--thread REGEX] ' +
                '--expect NAME... [--screenshot OUT.png] [--chromium PATH]');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { expect: [], chromium: '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--modules': args.modules = value(); break;
      case '--profile': args.profile = value(); break;
      case '--thread': args.thread = new RegExp(value()); break;
      case '--expect': args.expect.push(value()); break;
      case '--screenshot': args.screenshot = value(); break;
      case '--chromium': args.chromium = value(); break;
      default: usage(`unknown argument ${flag}`);
    }
  }
  if (!args.modules || !args.profile || args.expect.length === 0) {
    usage('--modules, --profile and at least one --expect are required');
  }
  return args;
}

const kTypes = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.png': 'image/png', '.wasm': 'application/wasm', '.woff2': 'font/woff2', '.ico': 'image/x-icon',
};

// Serves speedscope's release directory, and the profile under /profile/<its file name>.
function serve(root, profile) {
  const profileUrl = `/profile/${encodeURIComponent(path.basename(profile))}`;
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file;
    if (url === decodeURIComponent(profileUrl)) {
      file = profile;
    } else {
      file = path.join(root, path.normalize(url === '/' ? '/index.html' : url));
      if (!file.startsWith(root)) {
        res.writeHead(403).end();
        return;
      }
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        'Content-Type': kTypes[path.extname(file)] ?? 'application/octet-stream',
        'Access-Control-Allow-Origin': '*',
      });
      res.end(data);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, profileUrl }));
  });
}

// The profile switcher's current title, e.g. "worker-1 T4102 regions (3/7)" as the toolbar
// shows it; "" if the toolbar has none.
async function toolbarTitle(page) {
  return page.evaluate(() => {
    const count = [...document.querySelectorAll('div, span')]
                      .find((e) => e.children.length === 0 && /\(\d+\/\d+\)\s*$/.test(e.textContent));
    if (!count) return '';
    const whole = count.parentElement.textContent.trim();
    return /\(\d+\/\d+\)$/.test(whole) ? whole : count.textContent.trim();
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const require = createRequire(path.join(path.resolve(args.modules), 'x.js'));
  const puppeteer = require('puppeteer-core');
  const root = path.join(path.resolve(args.modules), 'speedscope', 'dist', 'release');
  if (!fs.existsSync(path.join(root, 'index.html'))) usage(`no speedscope release under ${root}`);
  if (!fs.existsSync(args.profile)) usage(`no profile ${args.profile}`);
  if (!fs.existsSync(args.chromium)) usage(`no Chromium at ${args.chromium}`);

  const { server, port, profileUrl } = await serve(root, path.resolve(args.profile));
  const browser = await puppeteer.launch({
    executablePath: args.chromium,
    headless: true,
    // Root in CI: no sandbox. A closed network: no background connections, no updates, no
    // sync, no QUIC (refused connections otherwise pile up). WebGL (speedscope draws with it)
    // on SwiftShader, the software renderer.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--enable-unsafe-swiftshader',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-quic', '--no-first-run'],
  });
  let failed = null;
  try {
    const page = await browser.newPage();
    // The view tabs are "🥪Sandwich" and the like: the innermost element whose text ends so.
    await page.evaluateOnNewDocument(() => {
      window.findTab = (label) => {
        const hits = [...document.querySelectorAll('div, span, button')]
                         .filter((e) => e.textContent.trim().endsWith(label) &&
                                        e.textContent.trim().length <= label.length + 4);
        return hits.length > 0 ? hits[hits.length - 1] : null;
      };
    });
    await page.setViewport({ width: 1400, height: 900 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const base = `http://127.0.0.1:${port}`;
    await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(base + profileUrl)}`,
                    { waitUntil: 'networkidle0', timeout: 60000 });
    // Loaded: the view tabs appear once a profile is open.
    await page.waitForFunction(() => findTab('Sandwich') !== null, { timeout: 60000 });
    const body = await page.evaluate(() => document.body.innerText);
    if (/Something went wrong|Unrecognized format|failed to import/i.test(body)) {
      throw new Error(`speedscope did not import ${args.profile}: ${body.slice(0, 400)}`);
    }
    if (args.thread) {
      const first = await toolbarTitle(page);
      const total = Number((/\/(\d+)\)\s*$/.exec(first) ?? [0, 1])[1]);
      let title = first;
      for (let i = 0; i < total && !args.thread.test(title); ++i) {
        await page.keyboard.press('n');
        await new Promise((r) => setTimeout(r, 150));
        title = await toolbarTitle(page);
      }
      if (!args.thread.test(title)) {
        throw new Error(`no thread matching ${args.thread} among ${total} (last: '${title}')`);
      }
      console.log(`thread: ${title}`);
    }
    await page.evaluate(() => findTab('Sandwich').click());
    await page.waitForFunction(() => document.querySelector('table') !== null, { timeout: 30000 });
    await new Promise((r) => setTimeout(r, 300));
    const names = await page.evaluate(() =>
        [...document.querySelectorAll('table tr')].map((tr) => tr.innerText.replace(/\s+/g, ' ')));
    // A row is "<total> <self> <name>": the name must be the whole symbol, not a part of it
    // (a slice with args would be "parse {...}", one row per instance).
    const missing = args.expect.filter((want) => !names.some((row) => row.trim().endsWith(` ${want}`)));
    if (args.screenshot) await page.screenshot({ path: args.screenshot });
    if (missing.length > 0) {
      failed = `the Sandwich table lacks ${JSON.stringify(missing)}; it lists:\n  ` +
               names.slice(0, 40).join('\n  ');
    } else {
      console.log(`Sandwich lists ${JSON.stringify(args.expect)} (${names.length} rows)`);
    }
    if (errors.length > 0) failed = `${failed ?? ''}\npage errors: ${errors.join('; ')}`;
  } finally {
    await browser.close();
    server.close();
  }
  if (failed) {
    console.error(`render_test: ${args.profile}: ${failed}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(`render_test: ${e.stack ?? e}`);
  process.exit(1);
});
