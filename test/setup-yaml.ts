// The compiler's tests use the front end as the library does (src/index.ts): both forms of spec. The command
// line loads the YAML front end only for YAML specs (test/cli/startup.test.ts checks what it loads), and so do
// the other test files: each that parses YAML in its own process imports it. Here for every file of the
// "compiler" project, which share their worker's modules: loaded once per worker. In the others it took about
// 1.1 s of every file's start (the parser and its layer modules), files that never parse a spec included.
import "../src/parser/yaml/load.ts";
