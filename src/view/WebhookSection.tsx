/**
 * A job's inbound webhook in the job detail: enable, rotate, disable. The
 * server answers the token once (it keeps only a hash), so the dialog that
 * shows the URL is the only place a person ever sees it; afterwards the
 * section only says that the webhook is enabled.
 */
import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { WebhookToken } from '../api';

/** Shows a freshly made webhook URL once (a JupyterLab dialog by default). */
export type ShowWebhookToken = (
  token: WebhookToken,
  trans: TranslationBundle
) => Promise<void>;

/** The dialog's body: the URL and its copy button. */
export function WebhookTokenBody(props: {
  token: WebhookToken;
  trans: TranslationBundle;
}): JSX.Element {
  const { token, trans } = props;
  const [copied, setCopied] = React.useState(false);
  return (
    <div
      className="jp-PipelineScheduler-webhookToken"
      data-testid="webhook-token"
    >
      <p>
        {trans.__(
          'POST to this URL to start a run; an optional JSON object body gives values to the parameters this job declares (no other names). Copy it now: it is shown only once.'
        )}
      </p>
      <code
        className="jp-PipelineScheduler-webhookUrl"
        data-testid="webhook-url"
      >
        {token.url}
      </code>
      <div>
        <Button
          type="button"
          small
          data-action="copy-webhook-url"
          onClick={() => {
            Clipboard.copyToSystem(token.url);
            setCopied(true);
          }}
        >
          {copied ? trans.__('Copied') : trans.__('Copy URL')}
        </Button>
      </div>
    </div>
  );
}

/** The default ShowWebhookToken: a dialog with the URL and a copy button. */
export async function showWebhookTokenDialog(
  token: WebhookToken,
  trans: TranslationBundle
): Promise<void> {
  await showDialog({
    title: trans.__('Webhook URL'),
    body: <WebhookTokenBody token={token} trans={trans} />,
    buttons: [Dialog.okButton({ label: trans.__('Done') })]
  });
}

export interface WebhookSectionProps {
  enabled: boolean;
  trans: TranslationBundle;
  onEnable: () => void;
  onDisable: () => void;
}

export function WebhookSection(props: WebhookSectionProps): JSX.Element {
  const { enabled, trans } = props;
  return (
    <section data-testid="webhook-section">
      <h3>{trans.__('Webhook')}</h3>
      <p className="jp-PipelineScheduler-muted" data-testid="webhook-state">
        {enabled
          ? trans.__(
              'Enabled: external systems start runs with a POST to its secret URL.'
            )
          : trans.__(
              'Not enabled. A webhook gives this job a secret URL that starts a run when called.'
            )}
      </p>
      <div className="jp-PipelineScheduler-webhookActions">
        <Button
          type="button"
          small
          data-action={enabled ? 'rotate-webhook' : 'enable-webhook'}
          onClick={props.onEnable}
        >
          {enabled ? trans.__('Rotate token') : trans.__('Enable webhook')}
        </Button>
        {enabled && (
          <Button
            type="button"
            small
            data-action="disable-webhook"
            onClick={props.onDisable}
          >
            {trans.__('Disable')}
          </Button>
        )}
      </div>
    </section>
  );
}
