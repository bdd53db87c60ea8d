// Tests use the front end as the library does (src/index.ts): both forms of spec. The command line
// loads the YAML front end only for YAML specs (test/cli/startup.test.ts checks what it loads).
import "../src/parser/yaml/load.ts";
