import { useEffect, useState } from 'preact/hooks';
import type { Attachment as A } from '@parley/client';
import type { Store } from '../app/store.js';
import { FileIcon, ImageIcon } from './icons.js';

/** An image shows its thumbnail (click opens the full file); anything else is a download link. */
export function Attachment({ store, a }: { store: Store; a: A }) {
  const image = a.contentType.startsWith('image/');
  const [thumb, setThumb] = useState<string>();
  useEffect(() => {
    if (!image) return;
    let url: string | undefined;
    void store.mediaUrl(a.mediaId, true).then((u) => setThumb((url = u)));
    return () => {
      if (url) URL.revokeObjectURL(url);
    };
  }, [a.mediaId]);
  async function open(): Promise<void> {
    const u = await store.mediaUrl(a.mediaId, false);
    if (u) window.open(u, '_blank', 'noopener');
  }
  const label = a.fileName ?? (image ? 'Photo' : 'File');
  return (
    <button type="button" class={`attachment ${image ? 'image' : 'file'}`} onClick={() => void open()} aria-label={`Open ${label}`}>
      {image ? thumb ? <img src={thumb} alt={label} width={200} height={150} /> : <span class="thumb-placeholder"><ImageIcon /></span> : <span><FileIcon /> {label}</span>}
      <span class="size">{a.size < 1024 ? `${a.size} B` : a.size < 1024 * 1024 ? `${(a.size / 1024).toFixed(0)} KiB` : `${(a.size / 1048576).toFixed(1)} MiB`}</span>
    </button>
  );
}
