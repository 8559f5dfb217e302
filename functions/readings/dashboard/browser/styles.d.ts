// esbuild bundles imported stylesheets into the dashboard's one CSS file.
declare module '*.css';
