/** Hand a file to the browser as a download (no page navigation). */
export function saveFile(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
  // Chromium reads the blob asynchronously after the click.
  window.setTimeout(() => URL.revokeObjectURL(url), 30000);
}
