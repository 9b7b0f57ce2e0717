// build.mjs writes the dashboard JSON files from their sources in this folder:
//
//   node build.mjs           write ../farm.json, ../miner.json, ../repairs.json, ../site.json, …
//   node build.mjs --check   fail when a JSON file differs from what its source gives
//
// The JSON files are what Grafana loads and what the checks in ../check read; edit the sources and
// rebuild (make dashboards), never the JSON by hand.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import energy from './energy.mjs';
import farm from './farm.mjs';
import health from './health.mjs';
import miner from './miner.mjs';
import pools from './pools.mjs';
import rack from './rack.mjs';
import repairs from './repairs.mjs';
import site from './site.mjs';

const dashboards = { farm, miner, repairs, site, rack, health, pools, energy };
const check = process.argv.includes('--check');
let stale = 0;
for (const [name, dash] of Object.entries(dashboards)) {
  const path = fileURLToPath(new URL(`../${name}.json`, import.meta.url));
  const want = JSON.stringify(dash, null, 2) + '\n';
  if (!check) {
    writeFileSync(path, want);
    continue;
  }
  let have = '';
  try {
    have = readFileSync(path, 'utf8');
  } catch {
    // missing: reported below
  }
  if (have !== want) {
    console.error(`dashboards/${name}.json is not what dashboards/src/${name}.mjs gives: run make dashboards`);
    stale++;
  }
}
process.exit(stale ? 1 : 0);
