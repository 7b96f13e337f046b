// The web client's build: Preact with the automatic JSX runtime, one small bundle under dist/assets
// (content-hashed, served by the gateway at /). `@parley/client` is the same package the Node tests use;
// its `ws` import resolves to ws's browser stub, which is never called in a browser.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, sourcemap: false, reportCompressedSize: true },
  server: { proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true }, '/config.json': 'http://127.0.0.1:8080' } },
});
