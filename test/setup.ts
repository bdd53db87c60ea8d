// Tests use the front end as the library does (src/index.ts): both forms of spec. The command line
// loads the YAML front end only for YAML specs (test/cli/startup.test.ts checks what it loads).
import "../src/parser/yaml/load.ts";

// The temporary folders of a test file's runs go when its tests are done (GANC_KEEP_TMP=1 keeps them).
import { afterAll } from "vitest";
import { removeTmpDirs } from "./helpers.ts";
afterAll(() => removeTmpDirs());
