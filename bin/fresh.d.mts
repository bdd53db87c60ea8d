/** Whether dist/cli.js exists and is newer than each source file it was built from (dist/build.json). */
export function freshBuild(root: string): boolean;
