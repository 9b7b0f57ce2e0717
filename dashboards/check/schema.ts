// The types a dashboard JSON file is checked against: @grafana/schema's Dashboard, with each panel
// checked against its own plugin's Options and FieldConfig (the Panel type alone leaves options as
// Record<string, unknown>), and each target against the Prometheus query model.
//
// JSON has no enums: JSONOf turns every string enum of the schema (ThresholdsMode, LegendPlacement…)
// into the union of its string values, so "absolute" is accepted and "absolut" is not.
import type {
  DataQuery,
  DataSourceRef,
  Dashboard as SchemaDashboard,
  FieldConfig as SchemaFieldConfig,
  FieldConfigSource as SchemaFieldConfigSource,
  Panel as SchemaPanel,
  RowPanel as SchemaRowPanel,
} from '@grafana/schema';
import type * as bargauge from '@grafana/schema/dist/types/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen.d.ts';
import type * as gauge from '@grafana/schema/dist/types/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen.d.ts';
import type * as piechart from '@grafana/schema/dist/types/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen.d.ts';
import type * as stat from '@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen.d.ts';
import type * as statetimeline from '@grafana/schema/dist/types/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen.d.ts';
import type * as table from '@grafana/schema/dist/types/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen.d.ts';
import type * as text from '@grafana/schema/dist/types/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen.d.ts';
import type * as timeseries from '@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.d.ts';

export type JSONOf<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer E>
      ? Array<JSONOf<E>>
      : T extends object
        ? { [K in keyof T]: JSONOf<T[K]> }
        : T;

// Grafana's Prometheus query model (public/app/plugins/datasource/prometheus, dataquery.cue). The
// npm @grafana/schema package does not ship it, so the fields the dashboards may use are named here.
export interface PrometheusQuery extends DataQuery {
  datasource?: DataSourceRef;
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  interval?: string;
  intervalFactor?: number;
  exemplar?: boolean;
  editorMode?: 'code' | 'builder';
}

type FieldDefaults<C> = Omit<SchemaFieldConfig, 'custom'> & { custom?: C };
type FieldConfigSource<C> = Omit<SchemaFieldConfigSource, 'defaults'> & { defaults: FieldDefaults<C> };

type Typed<Type extends string, O, C> = JSONOf<
  Omit<SchemaPanel, 'type' | 'options' | 'fieldConfig' | 'targets' | 'datasource'> & {
    type: Type;
    datasource?: DataSourceRef;
    options: O;
    fieldConfig: FieldConfigSource<C>;
    targets?: PrometheusQuery[];
  }
>;

export type TimeSeriesPanel = Typed<'timeseries', timeseries.Options, timeseries.FieldConfig>;
export type StatPanel = Typed<'stat', stat.Options, Record<string, never>>;
export type GaugePanel = Typed<'gauge', gauge.Options, Record<string, never>>;
export type BarGaugePanel = Typed<'bargauge', bargauge.Options, Record<string, never>>;
export type TablePanel = Typed<'table', table.Options, table.FieldConfig>;
export type TextPanel = Typed<'text', text.Options, Record<string, never>>;
export type PieChartPanel = Typed<'piechart', piechart.Options, piechart.FieldConfig>;
export type StateTimelinePanel = Typed<'state-timeline', statetimeline.Options, statetimeline.FieldConfig>;

export type Panel =
  | TimeSeriesPanel
  | StatPanel
  | GaugePanel
  | BarGaugePanel
  | TablePanel
  | TextPanel
  | PieChartPanel
  | StateTimelinePanel;

export type RowPanel = JSONOf<Omit<SchemaRowPanel, 'panels'>> & { panels: Panel[] };

// The dashboard itself: the schema's Dashboard with its panels checked one by one (above).
export type Dashboard = JSONOf<Omit<SchemaDashboard, 'panels'>> & { panels: Array<Panel | RowPanel> };
