// Thumbnails with sharp (libvips), bounded: at most `maxPixels` input pixels (checked from the header before
// anything is decoded, so a decompression bomb is refused without allocating its pixels), a wall-clock
// timeout, one libvips worker thread per job, and the caller limits how many jobs run at once.
import sharp from 'sharp';
import type { ThumbnailPort } from '../domain/ports.js';

export interface ThumbnailerOptions {
  maxPixels: number;
  size: number;
  timeoutSeconds: number;
}

export function createThumbnailer(o: ThumbnailerOptions): ThumbnailPort {
  sharp.concurrency(1);
  sharp.cache(false);
  return {
    async render(input) {
      const img = sharp({ limitInputPixels: o.maxPixels, sequentialRead: true, failOn: 'error', animated: false })
        .rotate() // honour EXIF orientation
        .resize({ width: o.size, height: o.size, fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality: 72, mozjpeg: false })
        .timeout({ seconds: o.timeoutSeconds });
      const src = input as NodeJS.ReadableStream & { destroy?: (e?: Error) => void };
      src.on('error', (err: Error) => img.destroy(err));
      src.pipe(img);
      try {
        return await img.toBuffer();
      } catch (err) {
        src.unpipe(img);
        src.destroy?.();
        throw err;
      }
    },
  };
}
