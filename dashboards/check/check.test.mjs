// The schema check of the dashboards (node --test): every dashboard JSON type-checks against
// @grafana/schema through gen.mjs and schema.ts, and dashboards broken on purpose do not.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { generate } from './gen.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const dashboardsDir = join(here, '..');
const tsc = join(here, 'node_modules', 'typescript', 'bin', 'tsc');

const dashboards = readdirSync(dashboardsDir).filter((f) => f.endsWith('.json')).sort();

// typecheck generates one .ts file per dashboard (name → JSON text) and runs tsc over them all.
function typecheck(sources) {
  const dir = mkdtempSync(join(here, '.gen-'));
  try {
    const files = [];
    for (const [name, json] of Object.entries(sources)) {
      const file = join(dir, `${name}.ts`);
      writeFileSync(file, generate(json, `${name}.json`, '../schema.ts'));
      files.push(file);
    }
    // The temporary project takes every compiler option from tsconfig.json; only the files differ.
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', files }));
    const r = spawnSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
    return { status: r.status, output: (r.stdout ?? '') + (r.stderr ?? '') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the dashboards are there', () => {
  assert.deepEqual(dashboards, ['energy.json', 'farm.json', 'health.json', 'miner.json', 'pools.json', 'rack.json', 'repairs.json', 'site.json']);
});

test('the dashboard JSON is what dashboards/src gives', () => {
  const r = spawnSync(process.execPath, [join(dashboardsDir, 'src', 'build.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('every dashboard type-checks against @grafana/schema', () => {
  const sources = Object.fromEntries(dashboards.map((f) => [f.replace(/\.json$/, ''), readFileSync(join(dashboardsDir, f), 'utf8')]));
  const r = typecheck(sources);
  assert.equal(r.status, 0, r.output);
});

// Each case breaks a copy of farm.json in one way and names what tsc must say about it.
const broken = [
  { name: 'unknown_dashboard_field', want: "'\"titel\"' does not exist", mutate: (d) => { d.titel = 'x'; } },
  { name: 'missing_schema_version', want: "Property 'schemaVersion' is missing", mutate: (d) => { delete d.schemaVersion; } },
  { name: 'unknown_field_config_key', want: "'\"unitt\"' does not exist", mutate: (d) => { panel(d, 'stat').fieldConfig.defaults.unitt = 'Hs'; } },
  { name: 'stat_option_not_in_enum', want: '"valu"', mutate: (d) => { panel(d, 'stat').options.colorMode = 'valu'; } },
  { name: 'timeseries_option_of_another_plugin', want: "'\"colorMode\"' does not exist", mutate: (d) => { panel(d, 'timeseries').options.colorMode = 'value'; } },
  { name: 'timeseries_missing_legend', want: "'legend' is missing", mutate: (d) => { delete panel(d, 'timeseries').options.legend; } },
  { name: 'grid_width_as_string', want: "Type 'string' is not assignable to type 'number'", mutate: (d) => { panel(d, 'stat').gridPos.w = '12'; } },
  { name: 'threshold_mode_misspelt', want: '"absolut"', mutate: (d) => { panel(d, 'stat').fieldConfig.defaults.thresholds.mode = 'absolut'; } },
  { name: 'variable_type_unknown', want: '"querry"', mutate: (d) => { d.templating.list[1].type = 'querry'; } },
  { name: 'target_without_expr', want: "'expr' is missing", mutate: (d) => { delete panel(d, 'timeseries').targets[0].expr; } },
  { name: 'table_cell_type_unknown', want: '"sparklines"', mutate: (d) => { panel(d, 'table').fieldConfig.defaults.custom.cellOptions.type = 'sparklines'; } },
];

// diagnostics splits tsc's output into one string per error, with its indented continuation lines.
function diagnostics(output) {
  const out = [];
  for (const line of output.split('\n')) {
    if (/^\s/.test(line) && out.length > 0) out[out.length - 1] += '\n' + line;
    else if (line) out.push(line);
  }
  return out;
}

function panel(d, type) {
  const p = d.panels.find((x) => x.type === type);
  assert.ok(p, `farm.json has no ${type} panel`);
  return p;
}

test('a broken dashboard fails the type check, each for its own reason', () => {
  const farm = readFileSync(join(dashboardsDir, 'farm.json'), 'utf8');
  const sources = {};
  for (const c of broken) {
    const d = JSON.parse(farm);
    c.mutate(d);
    sources[c.name] = JSON.stringify(d);
  }
  const r = typecheck(sources);
  assert.notEqual(r.status, 0, 'tsc accepted every broken dashboard');
  for (const c of broken) {
    const errors = diagnostics(r.output).filter((e) => e.includes(`${c.name}.ts(`));
    assert.ok(errors.length > 0, `${c.name}: no error reported\n${r.output}`);
    assert.ok(errors.some((l) => l.includes(c.want)), `${c.name}: want an error mentioning ${c.want}, got:\n${errors.join('\n')}`);
  }
});

test('a panel type the schema does not cover is refused', () => {
  const d = JSON.parse(readFileSync(join(dashboardsDir, 'farm.json'), 'utf8'));
  d.panels[1].type = 'graph';
  assert.throws(() => generate(JSON.stringify(d), 'farm.json', '../schema.ts'), /panel type "graph" has no schema/);
});
