// Type-checks Grafana dashboard JSON files against @grafana/schema's Dashboard type with
// the TypeScript compiler: wrong types, missing required fields and unknown keys fail.
// (No JSON Schema or CLI linter for dashboards is published on npm.)
//   node check_dashboard.mjs TOOLS_DIR dashboard.json...
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const [tools, ...files] = process.argv.slice(2);
const dir = mkdtempSync(join(resolve(tools), '.dashcheck-'));  // inside tools/, so node_modules resolves
try {
  const names = files.map((file, i) => {
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const name = `dashboard${i}.ts`;
    writeFileSync(join(dir, name),
      `import type { Dashboard } from '@grafana/schema';\n` +
      // JSON holds an enum's value ("absolute"), which TypeScript's enum types do not
      // accept from a literal: compare against each enum's string values instead.
      `type Json<T> = T extends string ? \`\${T}\` : T extends object ? { [K in keyof T]: Json<T[K]> } : T;\n` +
      `// ${file}\nconst d: Json<Dashboard> = ${JSON.stringify(json, null, 2)};\nexport default d;\n`);
    return name;
  });
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'esnext', moduleResolution: 'bundler',
                       target: 'es2022', skipLibCheck: true },
    files: names }));
  execFileSync(join(resolve(tools), 'node_modules/.bin/tsc'), ['-p', dir], { stdio: 'inherit' });
  for (const file of files) console.log(`${file}: a valid Grafana dashboard`);
} catch {
  console.error('dashboard check failed (see the TypeScript errors above)');
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
