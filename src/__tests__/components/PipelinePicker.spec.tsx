import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import * as React from 'react';

import type { DirectoryEntry, SchedulerModel } from '../../model';
import { PipelinePicker } from '../../components/PipelinePicker';
import { trans } from '../fixtures';

/** The workspace the picker browses: folders and the files in them. */
const TREE: Record<string, DirectoryEntry[]> = {
  '': [
    { name: 'etl', path: 'etl', type: 'directory' },
    { name: 'hello.py', path: 'hello.py', type: 'file' },
    { name: 'notes.txt', path: 'notes.txt', type: 'file' },
    { name: 'pipeline.ampln', path: 'pipeline.ampln', type: 'file' },
    { name: 'report.ipynb', path: 'report.ipynb', type: 'file' }
  ],
  etl: [
    { name: 'nightly_load.py', path: 'etl/nightly_load.py', type: 'file' },
    { name: 'README.md', path: 'etl/README.md', type: 'file' }
  ],
  empty: []
};

function fakeModel(extensions = ['.py', '.ampln', '.ipynb']): SchedulerModel {
  return {
    allowedExtensions: extensions,
    isSchedulable: (path: string) =>
      extensions.some(ext => path.toLowerCase().endsWith(ext)),
    listDirectory: async (path: string) => {
      if (!(path in TREE)) {
        throw new Error(`${path} is gone`);
      }
      return TREE[path];
    }
  } as unknown as SchedulerModel;
}

function renderPicker(
  overrides: Partial<React.ComponentProps<typeof PipelinePicker>> = {}
) {
  const onSelect = jest.fn();
  const onAccept = jest.fn();
  const view = render(
    <PipelinePicker
      model={fakeModel()}
      trans={trans}
      startDirectory=""
      initialSelection=""
      onSelect={onSelect}
      onAccept={onAccept}
      {...overrides}
    />
  );
  return { ...view, onSelect, onAccept };
}

function shownPaths(container: HTMLElement): string[] {
  return Array.from(container.querySelectorAll('[data-path]')).map(
    el => (el as HTMLElement).dataset.path as string
  );
}

describe('PipelinePicker', () => {
  it('lists folders and the pipelines the server runs, not other files', async () => {
    const { container } = renderPicker();
    expect(screen.getByText('Loading…')).toBeTruthy();
    await waitFor(() => expect(shownPaths(container)).toContain('hello.py'));
    expect(shownPaths(container)).toEqual([
      'etl',
      'hello.py',
      'pipeline.ampln',
      'report.ipynb'
    ]);
  });

  it('filters on the extensions of the server config', async () => {
    const { container } = renderPicker({ model: fakeModel(['.py']) });
    await waitFor(() => expect(shownPaths(container)).toContain('hello.py'));
    expect(shownPaths(container)).toEqual(['etl', 'hello.py']);
  });

  it('shows every file with "Show all files"', async () => {
    const { container } = renderPicker();
    await waitFor(() => expect(shownPaths(container)).toContain('hello.py'));
    fireEvent.click(screen.getByLabelText('Show all files'));
    expect(shownPaths(container)).toContain('notes.txt');
    fireEvent.click(screen.getByLabelText('Show all files'));
    expect(shownPaths(container)).not.toContain('notes.txt');
  });

  it('goes into a folder and back, and selects a file in it', async () => {
    const { container, onSelect, onAccept } = renderPicker();
    await waitFor(() => expect(shownPaths(container)).toContain('etl'));
    fireEvent.click(
      container.querySelector('[data-path="etl"]') as HTMLElement
    );
    await waitFor(() =>
      expect(shownPaths(container)).toEqual(['etl/nightly_load.py'])
    );
    expect(
      (container.querySelector('[data-picker-directory]') as HTMLElement)
        .dataset.pickerDirectory
    ).toBe('etl');
    const file = container.querySelector(
      '[data-path="etl/nightly_load.py"]'
    ) as HTMLElement;
    fireEvent.click(file);
    expect(onSelect).toHaveBeenCalledWith('etl/nightly_load.py');
    expect(file.closest('[role="option"]')?.getAttribute('aria-selected')).toBe(
      'true'
    );
    fireEvent.doubleClick(file);
    expect(onAccept).toHaveBeenCalledTimes(1);
    fireEvent.click(screen.getByRole('button', { name: 'Parent folder' }));
    await waitFor(() => expect(shownPaths(container)).toContain('hello.py'));
  });

  it('says a folder has no pipeline, naming the extensions', async () => {
    renderPicker({ startDirectory: 'empty' });
    await waitFor(() =>
      expect(
        screen.getByText('No pipeline (.py, .ampln, .ipynb) in this folder.')
      ).toBeTruthy()
    );
  });

  it('falls back to the workspace root when its folder is gone', async () => {
    const { container } = renderPicker({ startDirectory: 'deleted/folder' });
    await waitFor(() => expect(shownPaths(container)).toContain('hello.py'));
    expect(
      (container.querySelector('[data-picker-directory]') as HTMLElement)
        .dataset.pickerDirectory
    ).toBe('');
  });
});
