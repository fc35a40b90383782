import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The page: a small HTML shell here, its ES modules compiled by tsc from ./page/*.ts
 * into dist/inspector/page/*.js and served as they are (no bundler, no CDN). The one
 * library the page uses, elkjs (statechart layout), is served from its own bundled
 * browser build in node_modules.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>eldertree inspector</title>
<link rel="icon" href="data:,">
</head>
<body>
<div id="app"><p style="font-family:sans-serif;padding:2em">Loading the eldertree inspector…</p></div>
<script src="/vendor/elk.bundled.js"></script>
<script type="module" src="/app/main.js"></script>
</body>
</html>
`;

const MODULE_NAME = /^[a-z][a-z0-9-]*\.js$/;

export class PageAssets {
  private readonly dir: string | undefined;
  private readonly cache = new Map<string, Buffer>();

  constructor() {
    // From dist the modules sit beside this file; tests that run the TypeScript sources
    // get the ones `npm run build` compiled.
    const candidates = [new URL('./page/', import.meta.url), new URL('../../dist/inspector/page/', import.meta.url)];
    this.dir = candidates.map((u) => fileURLToPath(u)).find((d) => existsSync(d + 'main.js'));
  }

  get available(): boolean {
    return this.dir !== undefined;
  }

  /** A page module by file name, or undefined (unknown names never touch the file system). */
  module(name: string): Buffer | undefined {
    if (!MODULE_NAME.test(name) || this.dir === undefined) return undefined;
    let data = this.cache.get(name);
    if (data === undefined) {
      const file = this.dir + name;
      if (!existsSync(file)) return undefined;
      data = readFileSync(file);
      this.cache.set(name, data);
    }
    return data;
  }

  /** Third-party scripts the page loads, by name, from the installed packages. */
  vendor(name: string): Buffer | undefined {
    const file = VENDOR[name];
    if (file === undefined) return undefined;
    let data = this.cache.get(`vendor/${name}`);
    if (data === undefined) {
      data = readFileSync(createRequire(import.meta.url).resolve(file));
      this.cache.set(`vendor/${name}`, data);
    }
    return data;
  }
}

const VENDOR: Record<string, string> = { 'elk.bundled.js': 'elkjs/lib/elk.bundled.js' };
