import type { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import type { Job } from '../api';

export interface ChainLink {
  jobId: string;
  name: string;
  /** The outcome that fires the downstream job. */
  on: string;
  isMissing?: boolean;
}

export interface TriggerChain {
  upstream: ChainLink[];
  downstream: ChainLink[];
  operator: string;
}

/** Which jobs `job` waits for, and which jobs wait for it. */
export function triggerChain(job: Job, jobs: ReadonlyArray<Job>): TriggerChain {
  const byId = new Map(jobs.map(j => [j.id, j]));
  const upstream = (job.trigger_conditions ?? []).map(c => ({
    jobId: c.job_id,
    name: byId.get(c.job_id)?.name ?? c.job_id,
    on: c.on,
    isMissing: !byId.has(c.job_id)
  }));
  const downstream: ChainLink[] = [];
  for (const other of jobs) {
    for (const c of other.trigger_conditions ?? []) {
      if (c.job_id === job.id) {
        downstream.push({ jobId: other.id, name: other.name, on: c.on });
      }
    }
  }
  return { upstream, downstream, operator: job.logical_operator ?? 'OR' };
}

export interface TriggerGraphProps {
  job: Job;
  chain: TriggerChain;
  trans: TranslationBundle;
  onOpenJob: (jobId: string) => void;
}

const NODE_W = 150;
const NODE_H = 28;
const GAP_Y = 10;
const COL_GAP = 50;

function clip(text: string, max = 20): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The trigger chain around one job: the jobs it waits for on the left, the
 * job in the middle, the jobs waiting for it on the right; each edge says
 * which outcome fires it.
 */
export function TriggerGraph(props: TriggerGraphProps): JSX.Element {
  const { chain, trans, job } = props;
  if (!chain.upstream.length && !chain.downstream.length) {
    return (
      <p
        className="jp-PipelineScheduler-muted"
        data-testid="trigger-graph-empty"
      >
        {trans.__('No other job triggers this one, and none waits for it.')}
      </p>
    );
  }
  const rows = Math.max(chain.upstream.length, chain.downstream.length, 1);
  const height = rows * (NODE_H + GAP_Y) + GAP_Y;
  const width = 3 * NODE_W + 2 * COL_GAP;
  const ys = (n: number) =>
    Array.from(
      { length: n },
      (_, i) =>
        (height - n * (NODE_H + GAP_Y) + GAP_Y) / 2 + i * (NODE_H + GAP_Y)
    );
  const centerY = (height - NODE_H) / 2;
  const midX = NODE_W + COL_GAP;
  const rightX = 2 * (NODE_W + COL_GAP);

  const node = (
    x: number,
    y: number,
    link: { jobId: string; name: string; isMissing?: boolean },
    kind: string
  ) => (
    <g
      key={`${kind}-${link.jobId}`}
      className={`jp-PipelineScheduler-graphNode jp-mod-${kind}${link.isMissing ? ' jp-mod-missing' : ''}`}
      data-job-id={link.jobId}
      transform={`translate(${x},${y})`}
      role={kind === 'self' ? undefined : 'link'}
      tabIndex={kind === 'self' || link.isMissing ? undefined : 0}
      onClick={() =>
        kind !== 'self' && !link.isMissing && props.onOpenJob(link.jobId)
      }
      onKeyDown={event => {
        if (event.key === 'Enter' && kind !== 'self' && !link.isMissing) {
          props.onOpenJob(link.jobId);
        }
      }}
    >
      <title>{link.name}</title>
      <rect width={NODE_W} height={NODE_H} rx={4} />
      <text
        x={NODE_W / 2}
        y={NODE_H / 2}
        dominantBaseline="central"
        textAnchor="middle"
      >
        {clip(link.name)}
      </text>
    </g>
  );

  const edge = (
    x1: number,
    y1: number,
    x2: number,
    y2: number,
    on: string,
    key: string
  ) => {
    const mx = (x1 + x2) / 2;
    return (
      <g key={key} className={`jp-PipelineScheduler-graphEdge jp-mod-${on}`}>
        <path
          d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`}
          markerEnd="url(#jp-PipelineScheduler-arrow)"
        />
        <text x={mx} y={(y1 + y2) / 2 - 4} textAnchor="middle">
          {on === 'success' ? trans.__('succeeds') : trans.__('fails')}
        </text>
      </g>
    );
  };

  const upY = ys(chain.upstream.length);
  const downY = ys(chain.downstream.length);
  return (
    <svg
      className="jp-PipelineScheduler-triggerGraph"
      data-testid="trigger-graph"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={trans.__(
        '%1 waits for %2 job(s); %3 job(s) wait for it',
        job.name,
        chain.upstream.length,
        chain.downstream.length
      )}
    >
      <defs>
        <marker
          id="jp-PipelineScheduler-arrow"
          viewBox="0 0 8 8"
          refX="8"
          refY="4"
          markerWidth="7"
          markerHeight="7"
          orient="auto"
        >
          <path
            d="M0,0 L8,4 L0,8 z"
            className="jp-PipelineScheduler-graphArrow"
          />
        </marker>
      </defs>
      {chain.upstream.map((link, i) =>
        edge(
          NODE_W,
          upY[i] + NODE_H / 2,
          midX,
          centerY + NODE_H / 2,
          link.on,
          `up-${link.jobId}-${i}`
        )
      )}
      {chain.downstream.map((link, i) =>
        edge(
          midX + NODE_W,
          centerY + NODE_H / 2,
          rightX,
          downY[i] + NODE_H / 2,
          link.on,
          `down-${link.jobId}-${i}`
        )
      )}
      {chain.upstream.map((link, i) => node(0, upY[i], link, 'upstream'))}
      {node(midX, centerY, { jobId: job.id, name: job.name }, 'self')}
      {chain.downstream.map((link, i) =>
        node(rightX, downY[i], link, 'downstream')
      )}
      {chain.upstream.length > 1 && (
        <text
          className="jp-PipelineScheduler-graphOperator"
          x={midX - COL_GAP / 2}
          y={12}
          textAnchor="middle"
        >
          {chain.operator === 'AND' ? trans.__('all of') : trans.__('any of')}
        </text>
      )}
    </svg>
  );
}
