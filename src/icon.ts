import { LabIcon } from '@jupyterlab/ui-components';

/** A clock over a pipeline, drawn in the theme's icon colour. */
const schedulerSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16z"/>
    <path d="M11 6h2v5.6l3.7 2.2-1 1.7L11 12.7z"/>
    <circle cx="5" cy="19.5" r="2.5"/>
    <circle cx="19" cy="19.5" r="2.5"/>
  </g>
</svg>`;

/** Resume a paused job: a play sign in a ring (Run now is the bare play sign). */
export const resumeIcon = new LabIcon({
  name: 'pipeline-scheduler:resume',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16z"/>
    <path d="M10 8v8l6-4z"/>
  </g>
</svg>`
});

export const schedulerIcon = new LabIcon({
  name: 'pipeline-scheduler:scheduler',
  svgstr: schedulerSvg
});
