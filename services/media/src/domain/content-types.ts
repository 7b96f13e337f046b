// The content-type allow list (MEDIA_ALLOWED_CONTENT_TYPES): exact MIME types or `type/*`, case-insensitive,
// parameters (`; charset=…`) ignored. Images get thumbnails only for the formats in THUMBNAIL_TYPES.
export const DEFAULT_ALLOWED_CONTENT_TYPES = [
  'image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/heic', 'image/heif', 'image/avif',
  'audio/mpeg', 'audio/mp4', 'audio/aac', 'audio/ogg', 'audio/opus', 'audio/webm', 'audio/wav', 'audio/amr',
  'video/mp4', 'video/webm', 'video/quicktime', 'video/3gpp',
  'application/pdf', 'text/plain', 'application/zip', 'application/msword', 'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'application/vnd.oasis.opendocument.text',
];

/** Formats the bundled libvips (sharp's prebuilt binaries) decodes. HEIC/HEVC is not among them (patents). */
export const THUMBNAIL_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif']);

const TOKEN = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** The MIME essence (lowercase, no parameters), or undefined when it is not `type/subtype`. */
export function normalizeContentType(raw: string): string | undefined {
  const essence = raw.split(';')[0]!.trim().toLowerCase();
  return TOKEN.test(essence) ? essence : undefined;
}

export class ContentTypePolicy {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];

  constructor(allowed: readonly string[]) {
    for (const a of allowed) {
      const t = a.trim().toLowerCase();
      if (!t) continue;
      if (t === '*/*' || t === '*') this.prefixes.push('');
      else if (t.endsWith('/*')) this.prefixes.push(t.slice(0, -1));
      else this.exact.add(t);
    }
  }

  allows(essence: string): boolean {
    return this.exact.has(essence) || this.prefixes.some((p) => essence.startsWith(p));
  }
}
