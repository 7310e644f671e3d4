// Types for build.mjs, which tests import.
export declare const SHARED_MODULES: readonly string[];
export declare const PLUGINS: ReadonlyArray<{ id: string; source: string }>;
export declare function amdWrap(cjs: string, deps: readonly string[]): string;
export declare function buildGrafanaPlugins(options?: { outDir?: string }): Promise<void>;
