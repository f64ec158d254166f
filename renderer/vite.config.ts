import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The renderer is served from file:// in Electron and from the browser shell's
// own origin, so every asset path is relative and nothing is loaded from elsewhere.
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [svelte()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline scripts or styles: the Content-Security-Policy forbids them.
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: true,
    target: 'es2022',
  },
});
