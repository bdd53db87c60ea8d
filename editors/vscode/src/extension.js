// The VS Code side of ganc's editor support: starts `ganc lsp` and connects it to .gan files and to
// .gan.yaml files (which stay YAML, so the YAML extension's schema checks apply as well).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

/** The ganc command: the setting, else the workspace's own install, else `ganc` on PATH. */
function gancCommand() {
  const configured = vscode.workspace.getConfiguration("ganc").get("path");
  if (configured) return configured;
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const local = path.join(folder.uri.fsPath, "node_modules", ".bin", process.platform === "win32" ? "ganc.cmd" : "ganc");
    if (fs.existsSync(local)) return local;
  }
  return "ganc";
}

async function activate(context) {
  const command = gancCommand();
  const server = { command, args: ["lsp", "--stdio"], options: { shell: process.platform === "win32" } };
  client = new LanguageClient("ganc", "ganc", { run: server, debug: server }, {
    documentSelector: [
      { language: "gan" },
      { language: "yaml", pattern: "**/*.gan.{yaml,yml}" },
    ],
  });
  context.subscriptions.push(
    vscode.commands.registerCommand("ganc.restartServer", () => client.restart()),
  );
  try {
    await client.start();
  } catch (err) {
    void vscode.window.showErrorMessage(`ganc: could not start the language server with '${command} lsp' (${err.message}). Install ganc (npm install ganc) or set ganc.path.`);
  }
}

async function deactivate() {
  if (client) await client.stop();
}

module.exports = { activate, deactivate };
