// Building blocks for the dashboards: each helper returns a complete panel as Grafana would export
// it (every option the panel's schema requires), so the JSON files type-check against
// @grafana/schema without Grafana filling gaps. Layout (gridPos) and ids are assigned by dashboard().

export const ds = { type: 'prometheus', uid: '${datasource}' };

// ---------------------------------------------------------------- queries

// q is one Prometheus query. Range by default; instant: true for tables and single values.
export function q(expr, legendFormat = '', extra = {}) {
  return { datasource: ds, editorMode: 'code', expr, legendFormat, range: !extra.instant, instant: false, ...extra };
}

export function qi(expr, legendFormat = '', extra = {}) {
  return q(expr, legendFormat, { instant: true, range: false, format: 'table', ...extra });
}

// withRefIds names the targets A, B, C… in order.
function withRefIds(targets) {
  return targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), ...t }));
}

// ---------------------------------------------------------------- field config

export function thresholds(...steps) {
  // steps: 'green', 80, 'orange', 95, 'red'  → base colour then (value, colour) pairs.
  const out = [{ color: steps[0], value: null }];
  for (let i = 1; i + 1 < steps.length; i += 2) {
    out.push({ color: steps[i + 1], value: steps[i] });
  }
  return { mode: 'absolute', steps: out };
}

const neutral = thresholds('green');

function defaults(o, custom) {
  const d = {
    color: { mode: o.color ?? (o.thresholds ? 'thresholds' : 'palette-classic') },
    mappings: o.mappings ?? [],
    thresholds: o.thresholds ?? neutral,
    unit: o.unit ?? 'short',
  };
  for (const k of ['min', 'max', 'decimals', 'noValue', 'displayName']) {
    if (o[k] !== undefined) d[k] = o[k];
  }
  // Data links: per value (a table row's miner), unlike the panel's own links.
  if (o.dataLinks) d.links = o.dataLinks;
  if (custom) d.custom = custom;
  return d;
}

// upDown maps 1/0 to words and colours.
export function mapping(pairs) {
  const options = {};
  let index = 0;
  for (const [value, text, color] of pairs) {
    options[String(value)] = { text, color, index: index++ };
  }
  return [{ type: 'value', options }];
}

// byName overrides one field's properties (e.g. a dashed nominal line).
export function override(id, options, properties) {
  return { matcher: { id, options }, properties: Object.entries(properties).map(([id, value]) => ({ id, value })) };
}

const dashed = { fill: 'dash', dash: [10, 10] };

// fixedColor colours the field of that name (a stat's "down" red).
export function fixedColor(name, color) {
  return override('byName', name, { color: { mode: 'fixed', fixedColor: color } });
}
export const nominalDashed = override('byRegexp', '/nominal/i', { 'custom.lineStyle': dashed, 'custom.fillOpacity': 0 });

// ---------------------------------------------------------------- panels

function base(type, title, description, o) {
  const p = { type, title, description: description ?? '', datasource: ds };
  if (o.links) p.links = o.links;
  if (o.interval) p.interval = o.interval;
  if (o.w) p.gridPos = { w: o.w, h: o.h ?? 8, x: 0, y: 0 };
  // One copy of the panel per value of a multi-value variable (e.g. a floor map per site).
  if (o.repeat) {
    p.repeat = o.repeat;
    p.repeatDirection = o.repeatDirection ?? 'v';
    if (o.maxPerRow) p.maxPerRow = o.maxPerRow;
  }
  return p;
}

export function timeseries(title, description, targets, o = {}) {
  return {
    ...base('timeseries', title, description, o),
    targets: withRefIds(targets),
    fieldConfig: {
      defaults: defaults(o, {
        drawStyle: o.bars ? 'bars' : 'line',
        lineInterpolation: 'linear',
        lineWidth: 1,
        fillOpacity: o.bars ? 80 : o.stack ? 60 : 10,
        gradientMode: 'none',
        showPoints: 'never',
        spanNulls: false,
        axisPlacement: 'auto',
        axisLabel: o.axisLabel ?? '',
        axisSoftMin: o.softMin ?? 0,
        stacking: { mode: o.stack ? 'normal' : 'none', group: 'A' },
        thresholdsStyle: { mode: o.thresholds && o.showThresholds !== false ? 'dashed' : 'off' },
      }),
      overrides: o.overrides ?? [],
    },
    options: {
      legend: {
        calcs: o.legendCalcs ?? [],
        displayMode: o.legendCalcs ? 'table' : 'list',
        placement: o.legendCalcs ? 'right' : 'bottom',
        showLegend: true,
      },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

export function stat(title, description, targets, o = {}) {
  return {
    ...base('stat', title, description, { h: 4, ...o }),
    targets: withRefIds(targets),
    fieldConfig: { defaults: defaults(o), overrides: o.overrides ?? [] },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: o.fields ?? '', values: false },
      orientation: 'auto',
      colorMode: o.colorMode ?? 'value',
      graphMode: o.graph ? 'area' : 'none',
      justifyMode: 'auto',
      percentChangeColorMode: 'standard',
      showPercentChange: false,
      textMode: o.textMode ?? 'auto',
      wideLayout: true,
    },
  };
}

export function gauge(title, description, targets, o = {}) {
  return {
    ...base('gauge', title, description, o),
    targets: withRefIds(targets),
    fieldConfig: { defaults: defaults(o), overrides: [] },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      orientation: 'auto',
      minVizHeight: 75,
      minVizWidth: 75,
      showThresholdLabels: false,
      showThresholdMarkers: true,
      sizing: 'auto',
    },
  };
}

export function bargauge(title, description, targets, o = {}) {
  return {
    ...base('bargauge', title, description, o),
    targets: withRefIds(targets),
    fieldConfig: { defaults: defaults(o), overrides: [] },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      orientation: 'horizontal',
      legend: { calcs: [], displayMode: 'list', placement: 'bottom', showLegend: false },
      displayMode: 'gradient',
      maxVizHeight: 300,
      minVizHeight: 16,
      minVizWidth: 8,
      namePlacement: 'auto',
      showUnfilled: true,
      sizing: 'auto',
      valueMode: 'color',
    },
  };
}

// table shows instant queries; several targets are merged into one row per label set, or joined
// on one field (o.join: 'instance') when their label sets differ. o.matrix ({ rows, columns })
// turns one query into a grid: a row per value of one label, a column per value of another (the
// floor map: rows × racks), each cell the value.
export function table(title, description, targets, o = {}) {
  const transformations = [];
  if (o.matrix) {
    transformations.push({
      id: 'groupingToMatrix',
      options: { rowField: o.matrix.rows, columnField: o.matrix.columns, valueField: 'Value', emptyValue: 'null' },
    });
  } else if (o.join && targets.length > 1) {
    transformations.push({ id: 'joinByField', options: { byField: o.join, mode: 'outer' } });
  } else if (targets.length > 1) {
    transformations.push({ id: 'merge', options: {} });
  }
  transformations.push({
    id: 'organize',
    options: {
      excludeByName: { Time: true, __name__: true, job: true, ...(o.hide ?? {}) },
      renameByName: o.rename ?? {},
      indexByName: o.order ?? {},
    },
  });
  return {
    ...base('table', title, description, o),
    targets: withRefIds(targets),
    transformations,
    fieldConfig: {
      defaults: defaults(o, {
        align: 'auto',
        cellOptions: o.cell ?? { type: 'auto' },
        inspect: false,
        filterable: o.filterable ?? true,
      }),
      overrides: o.overrides ?? [],
    },
    options: {
      frameIndex: 0,
      showHeader: true,
      cellHeight: 'sm',
      sortBy: o.sortBy ? [{ displayName: o.sortBy, desc: o.sortDesc ?? true }] : [],
    },
  };
}

export function statusHistory(title, description, targets, o = {}) {
  return {
    ...base('state-timeline', title, description, o),
    targets: withRefIds(targets),
    fieldConfig: {
      defaults: defaults(o, { fillOpacity: 80, lineWidth: 0 }),
      overrides: [],
    },
    options: {
      legend: { calcs: [], displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'single', sort: 'none' },
      rowHeight: 0.9,
      showValue: 'auto',
      mergeValues: true,
      alignValue: 'left',
    },
  };
}

export function text(title, content, o = {}) {
  const p = base('text', title, o.description, o);
  delete p.datasource;
  return {
    ...p,
    fieldConfig: { defaults: {}, overrides: [] },
    options: { mode: 'markdown', content },
  };
}

export function row(title, collapsed = false) {
  return { type: 'row', title, collapsed, panels: [] };
}

// ---------------------------------------------------------------- variables

export const datasourceVar = {
  name: 'datasource',
  label: 'Data source',
  type: 'datasource',
  query: 'prometheus',
  hide: 0,
  refresh: 1,
  regex: '',
  options: [],
  skipUrlSync: false,
};

// queryVar is a Prometheus query variable (label_values(...) or query_result(...)).
export function queryVar(name, label, query, o = {}) {
  return {
    name,
    label,
    type: 'query',
    datasource: ds,
    query: { query, refId: `${name}-variable` },
    ...(o.multi === false ? {} : { current: { selected: true, text: ['All'], value: ['$__all'] } }),
    hide: 0,
    refresh: 2,
    regex: o.regex ?? '',
    sort: 1,
    multi: o.multi ?? true,
    includeAll: o.multi ?? true,
    ...(o.multi === false ? {} : { allValue: '.*' }),
    options: [],
    skipUrlSync: false,
  };
}

// constVar is a hidden constant: a figure from a configuration file (prometheus.yml's scrape
// timeout) that a query compares with; the checks hold it to that file.
export function constVar(name, value, description) {
  return {
    name,
    type: 'constant',
    description,
    query: value,
    current: { selected: false, text: value, value },
    options: [{ selected: true, text: value, value }],
    hide: 2,
    skipUrlSync: false,
  };
}

export function textboxVar(name, label, value, description) {
  return {
    name,
    label,
    type: 'textbox',
    description,
    query: value,
    current: { selected: false, text: value, value },
    options: [{ selected: true, text: value, value }],
    hide: 0,
    skipUrlSync: false,
  };
}

// ---------------------------------------------------------------- dashboard

// dashboard lays the panels out: each panel takes its gridPos width (default 8) and height,
// filling rows of 24 columns left to right; a row panel starts a new line. The panels after a
// collapsed row go inside it, positioned as they will be when it opens, and Grafana queries them
// only then: the expensive per-miner lists sit in collapsed rows.
export function dashboard({ uid, title, description, tags, variables, panels, links = [], time = 'now-6h' }) {
  let x = 0;
  let y = 0;
  let lineHeight = 0;
  let id = 1;
  let openRow = null; // the collapsed row collecting panels
  const laidOut = [];
  for (const p of panels) {
    const out = { ...p, id: id++ };
    if (p.type === 'row') {
      y += lineHeight;
      if (openRow) y = openRow.gridPos.y + 1; // a collapsed row takes one line
      x = 0;
      lineHeight = 0;
      out.gridPos = { h: 1, w: 24, x: 0, y };
      out.panels = [];
      openRow = p.collapsed ? out : null;
      laidOut.push(out);
      y += 1;
      continue;
    }
    const w = p.gridPos?.w ?? 8;
    const h = p.gridPos?.h ?? 8;
    if (x + w > 24) {
      y += lineHeight;
      x = 0;
      lineHeight = 0;
    }
    out.gridPos = { h, w, x, y };
    x += w;
    lineHeight = Math.max(lineHeight, h);
    (openRow ? openRow.panels : laidOut).push(out);
  }
  return {
    uid,
    title,
    description,
    tags,
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    refresh: '1m',
    schemaVersion: 39,
    version: 1,
    timezone: 'browser',
    time: { from: time, to: 'now' },
    timepicker: {},
    weekStart: '',
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    links: [
      {
        title: 'cgminer dashboards',
        type: 'dashboards',
        tags: ['cgminer'],
        asDropdown: true,
        icon: 'external link',
        includeVars: false,
        keepTime: true,
        targetBlank: false,
        tooltip: '',
      },
      ...links,
    ],
    templating: { list: variables },
    panels: laidOut,
  };
}

export function link(title, url, tooltip = '') {
  return {
    title,
    type: 'link',
    url,
    tags: [],
    asDropdown: false,
    icon: 'external link',
    includeVars: false,
    keepTime: false,
    targetBlank: true,
    tooltip,
  };
}
