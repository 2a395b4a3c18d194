import type { TranslationBundle } from '@jupyterlab/translation';
import { diffLines } from 'diff';
import * as React from 'react';

export interface CodeDiffProps {
  stored: string;
  current: string;
  trans: TranslationBundle;
}

/** A unified line diff: stored snapshot (removed lines) against the current code (added). */
export function CodeDiff(props: CodeDiffProps): JSX.Element {
  const { trans, stored, current } = props;
  const parts = React.useMemo(
    () => diffLines(stored, current),
    [stored, current]
  );
  const changed = parts.filter(p => p.added || p.removed).length;
  if (!changed) {
    return (
      <p className="jp-PipelineScheduler-codeSame" data-testid="code-diff-same">
        {trans.__('The stored code is what the pipeline generates now.')}
      </p>
    );
  }
  return (
    <pre className="jp-PipelineScheduler-diff" data-testid="code-diff">
      {parts.map((part, i) => {
        const kind = part.added ? 'added' : part.removed ? 'removed' : 'same';
        const sign = part.added ? '+' : part.removed ? '-' : ' ';
        const lines = part.value.replace(/\n$/, '').split('\n');
        return (
          <span key={i} className={`jp-PipelineScheduler-diff-${kind}`}>
            {lines.map(line => `${sign} ${line}\n`).join('')}
          </span>
        );
      })}
    </pre>
  );
}
