/** Builds the SDK into `out` (default dist/sdk): the two entry bundles, the SFrame worker, and (unless `types: false`) the declarations; resolves to `out`. */
export function buildSdk(options?: { readonly out?: string; readonly types?: boolean }): Promise<string>;
/** Builds `geobridge/core` into `out` (default dist/core); resolves to `out`. */
export function buildCore(options?: { readonly out?: string }): Promise<string>;
