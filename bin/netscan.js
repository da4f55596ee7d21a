#!/usr/bin/env node
// Entry point for `npx netscan` and the package bin: runs the compiled CLI.
import '../dist/cmd/netscan.js';
