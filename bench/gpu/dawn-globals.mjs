// Installs Dawn's navigator.gpu before tfjs-backend-webgpu's module is evaluated (it registers its backend only
// where navigator.gpu exists then). The first import of bench/gpu/entry.mjs.
import { create, globals } from "webgpu";

Object.assign(globalThis, globals);
Object.defineProperty(globalThis, "navigator", { value: { ...(globalThis.navigator ?? {}), gpu: create([]) }, configurable: true, writable: true });
