// The repair crew: open tasks by state and site, how fast tasks are acknowledged and repaired,
// reopened and failed repairs, and whether the alert pipeline feeding the board is alive.
// Tasks by assignee come from the board itself (assignee is not a metric label: one series per
// person and state would grow without bound); the assignee box links to the filtered board.
import {
  bargauge,
  dashboard,
  datasourceVar,
  link,
  q,
  qi,
  queryVar,
  row,
  stat,
  table,
  text,
  textboxVar,
  thresholds,
  timeseries,
} from './lib.mjs';

const S = 'site=~"$site"';
const OPEN = 'state=~"open|acknowledged|in_progress|verifying"';

const boardLink = [
  { title: 'Open these tasks on the board', url: '${receiver_url}/?site=${__data.fields.site}&state=${__data.fields.state}', targetBlank: true },
];

// quantile over the dashboard's time range of a receiver histogram.
const quantile = (phi, name) => `histogram_quantile(${phi}, sum by (le) (increase(${name}_bucket[$__range])))`;

export default dashboard({
  uid: 'cgminer-repairs',
  title: 'Repairs',
  description: 'Repair tasks from repair_receiver: open tasks by state, site and assignee; time to acknowledge and to repair; reopened and failed repairs.',
  tags: ['cgminer', 'repairs'],
  time: 'now-7d',
  variables: [
    datasourceVar,
    queryVar('site', 'Site', 'label_values(repair_receiver_tasks, site)'),
    textboxVar('receiver_url', 'Repair board', 'http://localhost:9155', 'Base URL of repair_receiver (its board and task pages).'),
    textboxVar('assignee', 'Assignee', '', 'A technician or team name: the links open the board filtered to their tasks.'),
  ],
  links: [link('Repair board', '${receiver_url}/', 'repair_receiver')],
  panels: [
    row('Open tasks'),
    stat('Open tasks', 'Tasks not yet closed on the selected sites.', [
      q(`sum(repair_receiver_tasks{${OPEN}, ${S}}) or vector(0)`, 'open tasks'),
    ], { thresholds: thresholds('green', 1, 'orange', 50, 'red'), graph: true, w: 4, h: 5, links: [link('Repair board', '${receiver_url}/')] }),
    stat('By state', 'Open tasks in each state.', [
      q(`sum(repair_receiver_tasks{state="open", ${S}}) or vector(0)`, 'open'),
      q(`sum(repair_receiver_tasks{state="acknowledged", ${S}}) or vector(0)`, 'acknowledged'),
      q(`sum(repair_receiver_tasks{state="in_progress", ${S}}) or vector(0)`, 'in progress'),
      q(`sum(repair_receiver_tasks{state="verifying", ${S}}) or vector(0)`, 'verifying'),
    ], { textMode: 'value_and_name', w: 12, h: 5 }),
    text('By assignee', [
      'Tasks by assignee are on the repair board (assignee is not a metric label).',
      '',
      '- [Tasks of **${assignee}**](${receiver_url}/?assignee=${assignee}) (type a name in the *Assignee* box above)',
      '- [Unacknowledged tasks](${receiver_url}/?state=open) · [In progress](${receiver_url}/?state=in_progress) · [Verifying](${receiver_url}/?state=verifying)',
      '- [Tasks on ${site}](${receiver_url}/?site=${site})',
    ].join('\n'), { w: 8, h: 5 }),
    timeseries('Open tasks by state', 'Over time.', [
      q(`sum by (state) (repair_receiver_tasks{${OPEN}, ${S}})`, '{{state}}'),
    ], { stack: true, w: 12, h: 8 }),
    bargauge('Open tasks by site', 'Sites with the most open tasks.', [
      q(`sort_desc(sum by (site) (repair_receiver_tasks{${OPEN}, ${S}}))`, '{{site}}'),
    ], { thresholds: thresholds('green', 10, 'orange', 50, 'red'), w: 12, h: 8 }),
    table('Open tasks by site and state', 'Click a row to open those tasks on the board.', [
      qi(`sum by (site, state) (repair_receiver_tasks{${OPEN}, ${S}}) > 0`),
    ], { dataLinks: boardLink, rename: { Value: 'tasks' }, sortBy: 'tasks', w: 24, h: 7 }),

    row('Speed'),
    stat('Time to acknowledge', 'From task creation to the assignee accepting it: median and 90th percentile over the time range.', [
      q(quantile(0.5, 'repair_receiver_time_to_acknowledge_seconds'), 'median'),
      q(quantile(0.9, 'repair_receiver_time_to_acknowledge_seconds'), 'p90'),
    ], { unit: 's', textMode: 'value_and_name', thresholds: thresholds('green', 3600, 'orange', 4 * 3600, 'red'), w: 6, h: 5 }),
    stat('Time to repair', 'From task creation to done (confirmed by the monitoring): median and 90th percentile over the time range.', [
      q(quantile(0.5, 'repair_receiver_time_to_repair_seconds'), 'median'),
      q(quantile(0.9, 'repair_receiver_time_to_repair_seconds'), 'p90'),
    ], { unit: 's', textMode: 'value_and_name', thresholds: thresholds('green', 8 * 3600, 'orange', 24 * 3600, 'red'), w: 6, h: 5 }),
    stat('Mean times', 'Mean time to acknowledge and to repair over the time range.', [
      q('sum(increase(repair_receiver_time_to_acknowledge_seconds_sum[$__range])) / sum(increase(repair_receiver_time_to_acknowledge_seconds_count[$__range]))', 'acknowledge'),
      q('sum(increase(repair_receiver_time_to_repair_seconds_sum[$__range])) / sum(increase(repair_receiver_time_to_repair_seconds_count[$__range]))', 'repair'),
    ], { unit: 's', textMode: 'value_and_name', w: 6, h: 5 }),
    stat('Tasks created and escalated', 'Over the time range.', [
      q('sum(increase(repair_receiver_tasks_created_total[$__range]))', 'created'),
      q('sum(increase(repair_receiver_tasks_escalated_total[$__range]))', 'escalated'),
    ], { textMode: 'value_and_name', decimals: 0, w: 6, h: 5 }),
    timeseries('Time to acknowledge and repair', '90th percentile over the past 6 hours at each point.', [
      q('histogram_quantile(0.9, sum by (le) (rate(repair_receiver_time_to_acknowledge_seconds_bucket[6h])))', 'acknowledge p90'),
      q('histogram_quantile(0.9, sum by (le) (rate(repair_receiver_time_to_repair_seconds_bucket[6h])))', 'repair p90'),
    ], { unit: 's', w: 24, h: 8 }),

    row('Quality'),
    stat('Reopened', 'Tasks reopened over the time range: the problem came back, or the verification found it still there.', [
      q('sum by (reason) (increase(repair_receiver_tasks_reopened_total[$__range]))', '{{reason}}'),
    ], { textMode: 'value_and_name', decimals: 0, thresholds: thresholds('green', 1, 'orange', 10, 'red'), w: 8, h: 5 }),
    stat('Verifications', 'Repairs checked against the monitoring over the time range: confirmed, failed (still broken), error (could not ask Prometheus).', [
      q('sum by (result) (increase(repair_receiver_verifications_total[$__range]))', '{{result}}'),
    ], { textMode: 'value_and_name', decimals: 0, w: 8, h: 5 }),
    stat('Failed repairs', 'Share of verifications that found the machine still broken.', [
      q('sum(increase(repair_receiver_verifications_total{result="failed"}[$__range])) / sum(increase(repair_receiver_verifications_total{result=~"confirmed|failed"}[$__range]))', 'failed'),
    ], { unit: 'percentunit', thresholds: thresholds('green', 0.05, 'orange', 0.2, 'red'), w: 8, h: 5 }),
    timeseries('Created, reopened, failed', 'Per hour.', [
      q('sum(increase(repair_receiver_tasks_created_total[1h]))', 'created'),
      q('sum by (reason) (increase(repair_receiver_tasks_reopened_total[1h]))', 'reopened ({{reason}})'),
      q('sum(increase(repair_receiver_verifications_total{result="failed"}[1h]))', 'verification failed'),
      q('sum(increase(repair_receiver_tasks_escalated_total[1h]))', 'escalated'),
    ], { unit: 'short', interval: '1h', w: 24, h: 8 }),

    row('Pipeline'),
    stat('Watchdog', 'Seconds since the Watchdog alert last reached the receiver: large means Prometheus → Alertmanager → receiver is broken.', [
      q('time() - repair_receiver_watchdog_last_seen_timestamp_seconds', 'since heartbeat'),
    ], { unit: 's', thresholds: thresholds('green', 600, 'orange', 1800, 'red'), w: 6, h: 6 }),
    timeseries('Webhook requests', 'Alertmanager deliveries by result, per second.', [
      q('sum by (result) (rate(repair_receiver_webhook_requests_total[$__rate_interval]))', '{{result}}'),
      q('sum by (status) (rate(repair_receiver_webhook_alerts_total[$__rate_interval]))', 'alerts {{status}}'),
    ], { unit: 'reqps', w: 12, h: 6 }),
    stat('Store errors', 'Over the time range, by operation.', [
      q('sum by (op) (increase(repair_receiver_store_errors_total[$__range])) or vector(0)', '{{op}}'),
    ], { thresholds: thresholds('green', 1, 'red'), textMode: 'value_and_name', decimals: 0, w: 6, h: 6 }),
  ],
});
