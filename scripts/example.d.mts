/** Builds examples/sdk-minimal and serves it on `port` (0: any) beside `broker`, whose paths it passes through; resolves once listening. */
export function startExample(options?: { readonly broker?: string; readonly port?: number; readonly host?: string }): Promise<{ readonly url: string; close(): Promise<void> }>;
