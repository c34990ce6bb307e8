// Builds a JavaScript actor project into a component; run by
// scripts/build-guests from the directory its pinned tools are installed
// in (target/guest-tools/js), which is where the imports below resolve.
//
//   node build-js.mjs PROJECT_DIR OUT.wasm WIT_DIR SDK_DIR STAGE_DIR
//
// PROJECT_DIR/actor.js default-exports the actor class (a subclass of
// Actor from @wactor/guest). The entry module written to STAGE_DIR exports
// the world's functions for it; esbuild bundles it with the SDK (from
// the project's node_modules, else SDK_DIR) into one module, and
// componentize-js turns that into a component of the `actor` world.

import { access, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { componentize } from '@bytecodealliance/componentize-js';

const [projectArg, outArg, witArg, sdkArg, stageArg] = process.argv.slice(2);
if (!stageArg) {
  console.error('usage: node build-js.mjs PROJECT_DIR OUT.wasm WIT_DIR SDK_DIR STAGE_DIR');
  process.exit(2);
}
const [project, out, wit, sdk, stage] = [projectArg, outArg, witArg, sdkArg, stageArg].map((p) => resolve(p));
const actorFile = join(project, 'actor.js');
try {
  await access(actorFile);
} catch {
  console.error(`build-js: ${actorFile} not found: a JavaScript actor project has an actor.js that default-exports its actor class`);
  process.exit(2);
}

await rm(stage, { recursive: true, force: true });
await mkdir(stage, { recursive: true });
const entry = join(stage, 'entry.js');
await writeFile(
  entry,
  `import * as host from 'wactor:actor/host@0.2.2';
import { exportsFor } from '@wactor/guest/component';
import ActorClass from ${JSON.stringify(actorFile)};

if (typeof ActorClass !== 'function') {
  throw new TypeError('actor.js must default-export its actor class: export default class MyActor extends Actor { ... }');
}
const actor = exportsFor(ActorClass, host);
export function init(args) { return actor.init(args); }
export function handleMessage(from, message) { return actor.handleMessage(from, message); }
export function handleCall(from, r, request) { return actor.handleCall(from, r, request); }
export function handleInfo(info) { return actor.handleInfo(info); }
export function terminate(reason) { return actor.terminate(reason); }
export function snapshot() { return actor.snapshot(); }
export function restore(state) { return actor.restore(state); }
`,
);

await mkdir(join(stage, 'node_modules', '@wactor'), { recursive: true });
await symlink(sdk, join(stage, 'node_modules', '@wactor', 'guest'), 'dir');

const bundle = join(stage, 'bundle.js');
await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outfile: bundle,
  external: ['wactor:*'],
  // The SDK resolves from the project's node_modules if it has one, else
  // from the stage's, which links to SDK_DIR.
  nodePaths: [join(stage, 'node_modules')],
  logLevel: 'warning',
});

// componentize-js maps the current directory to the component's root
// while it pre-initialises the module.
process.chdir(stage);
const { component } = await componentize({
  sourcePath: bundle,
  witPath: wit,
  worldName: 'actor',
  // No wasi:http imports: the host grants outbound HTTP to no one by default.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
